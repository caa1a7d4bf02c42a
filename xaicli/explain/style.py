"""The CSS every explain page shares (report.html, compare.html)."""

PAGE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222;
padding:0 1em}h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;
text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.pass{color:#1a7f37;font-weight:600}.fail{color:#c0392b;font-weight:600}.undetermined{color:#8a6d00}
.warn{background:#fff6e0;border-left:4px solid #e0a800;padding:.4em .8em;margin:.4em 0;font-size:.9em}
.meta{font-size:.85em;color:#555}.row img{width:84px;height:84px;image-rendering:pixelated;margin:1px}
.row{margin:.3em 0}.row b{display:inline-block;width:14em;font-size:.85em;vertical-align:top}
img.wide{max-width:100%}h3{font-size:1em;margin:1.2em 0 .2em}
"""
