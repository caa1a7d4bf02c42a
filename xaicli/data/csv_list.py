"""`data.name: csv`: a CSV file with a header and the columns `path,label[,split]`.

Paths are relative to the CSV file's folder (or absolute). Labels are class names, or class indices
when every label is a whole number (then the classes are 0..max). `split` is train, val (valid,
validation) or test, with the folder layout's roles: a lone held-out split is the test split. Without
a split column every row is a training file and the held-out splits are carved from them.
"""

from __future__ import annotations

import csv
from pathlib import Path

from xaicli.data.filelist import Defect, FileList, class_defects, split_role
from xaicli.data.registry import DATASETS
from xaicli.errors import XaiError


def _rows(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [(f or "").strip().lower() for f in reader.fieldnames or []]
            rows = [{k.strip().lower(): (v or "").strip() for k, v in row.items() if isinstance(k, str)}
                    for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise XaiError(f"data.root {path}: cannot read the CSV file ({exc})") from None
    missing = [c for c in ("path", "label") if c not in fields]
    if missing:
        raise XaiError(f"data.root {path}: the header must name the columns path,label[,split]; "
                       f"{' and '.join(missing)} missing (found {','.join(fields) or 'no header'})")
    return rows, fields


def _class_names(labels: list[str]) -> tuple[list[str], bool]:
    """(class names, labels are indices)."""
    if labels and all(lab.isdigit() for lab in labels):
        return [str(i) for i in range(max(int(lab) for lab in labels) + 1)], True
    return sorted(set(labels)), False


def list_csv(path: str | Path) -> FileList:
    """The CSV dataset at `path`, with the defects found while listing (not raised here)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise XaiError(f"data.root {path}: not a file (data.name csv expects a CSV file with the columns "
                       f"path,label[,split])")
    rows, fields = _rows(path)
    defects: list[Defect] = []
    good: list[tuple[int, dict[str, str]]] = []
    for line, row in enumerate(rows, start=2):
        role = split_role(row.get("split", "") or "train") if "split" in fields else "train"
        if not row.get("path") or not row.get("label") or role is None:
            what = ("an empty path" if not row.get("path") else "an empty label" if not row.get("label")
                    else f"split {row.get('split')!r} (expected train, val, valid, validation or test)")
            defects.append(Defect("bad_row", f"{path}:{line}", what))
            continue
        good.append((line, {**row, "split": role}))
    if not good:
        raise XaiError(f"data.root {path}: no usable rows" + (f" ({defects[0].line()})" if defects else ""))
    classes, indexed = _class_names([row["label"] for _, row in good])
    index = {name: i for i, name in enumerate(classes)}
    splits: dict[str, list[tuple[str, int]]] = {}
    counts: dict[str, dict[str, int]] = {}
    for _, row in good:
        file = Path(row["path"]).expanduser()
        file = file if file.is_absolute() else path.parent / file
        label = int(row["label"]) if indexed else index[row["label"]]
        splits.setdefault(row["split"], []).append((str(file), label))
        counts.setdefault(row["split"], {}).setdefault(classes[label], 0)
        counts[row["split"]][classes[label]] += 1
    if "train" not in splits:
        raise XaiError(f"data.root {path}: no rows of the train split (split column: train, val or test)")
    if "val" in splits and "test" not in splits:  # a lone held-out split is the test split
        splits["test"] = splits.pop("val")
        counts["test"] = counts.pop("val")
    splits = {s: splits[s] for s in ("train", "val", "test") if s in splits}
    counts = {s: counts[s] for s in splits}
    used = {name for per_split in counts.values() for name in per_split}
    for name in classes:
        if name not in used:  # an index no row uses
            counts["train"][name] = 0
    defects += class_defects(classes, counts, {s: f"{path} ({s} rows)" for s in counts}, folders=False)
    roles = {s: f"{path} ({s} rows)" for s in splits}
    if "test" in splits and "val" not in splits and any(split_role(r.get("split", "")) == "val" for _, r in good):
        roles["test"] += " (the only held-out split: the test split)"
    return FileList(path, classes, splits, roles, defects)


@DATASETS.register("csv")
def csv_dataset(root: str, data_cfg=None, validation: bool = True, **_):
    from xaicli.data.filedata import load_file_dataset

    return load_file_dataset(list_csv(root), data_cfg, validation, "csv")
