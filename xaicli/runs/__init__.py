"""Run directories: creation rules, atomic writes, checkpoint files, restore, meta.json, the metrics log."""
