"""`xai data check`: a folder or CSV dataset's classes and counts per split, and its defects: corrupt or
truncated files, unreadable files, empty classes, a class missing from a split or only in one, files
whose extension does not match their content, bad CSV rows, and the same image (by content hash) in
two splits. Every file is read and decoded in full, with a pool of threads."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from xaicli.data.decode import BadImage, decode_bytes, extension_format, sniff
from xaicli.data.filelist import Defect, FileList

KIND_NAMES = {  # kind -> (one, several)
    "corrupt": ("corrupt or truncated file", "corrupt or truncated files"),
    "unreadable": ("unreadable file", "unreadable files"),
    "empty_class": ("empty class", "empty classes"),
    "missing_class": ("class missing from a split", "classes missing from a split"),
    "extra_class": ("class only in a held-out split", "classes only in a held-out split"),
    "wrong_extension": ("wrong extension", "wrong extensions"),
    "duplicate": ("image in two splits", "images in two splits"),
    "bad_row": ("bad CSV row", "bad CSV rows"),
}


@dataclass
class CheckReport:
    source: str
    kind: str  # folder or csv
    classes: list[str]
    counts: dict[str, list[int]]  # split -> images per class
    roles: dict[str, str]
    defects: list[Defect]
    ignored: list[str] = field(default_factory=list)  # files that are not images
    same_split_duplicates: int = 0  # files with the content of another file of their own split

    @property
    def ok(self) -> bool:
        return not self.defects

    def summary(self) -> str:
        images = sum(sum(c) for c in self.counts.values())
        head = f"{images:,} images in {len(self.classes)} classes ({', '.join(self.counts)})"
        if self.ok:
            return f"{head}: no defects"
        per_kind: dict[str, int] = {}
        for d in self.defects:
            per_kind[d.kind] = per_kind.get(d.kind, 0) + 1
        parts = [f"{n} {KIND_NAMES.get(k, (k, k))[n > 1]}" for k, n in per_kind.items()]
        return f"{head}: {len(self.defects)} defect{'s' if len(self.defects) > 1 else ''} ({', '.join(parts)})"

    def lines(self) -> list[str]:
        """The report as a person reads it: where each split comes from, the counts table, the defects."""
        out = [f"{self.kind} {self.source}"]
        out += [f"  {split}: {role}" for split, role in self.roles.items()]
        width = max([len(c) for c in self.classes] + [5])
        splits = list(self.counts)
        out.append(f"{'class':<{width}}  " + "  ".join(f"{s:>7}" for s in splits))
        for i, name in enumerate(self.classes):
            out.append(f"{name:<{width}}  " + "  ".join(f"{self.counts[s][i]:>7,}" for s in splits))
        out.append(f"{'total':<{width}}  " + "  ".join(f"{sum(self.counts[s]):>7,}" for s in splits))
        if self.ignored:
            out.append(f"ignored {len(self.ignored)} file(s) that are not images, e.g. {self.ignored[0]}")
        if self.same_split_duplicates:
            out.append(f"note: {self.same_split_duplicates} file(s) repeat the content of another file of their "
                       f"own split")
        out += [d.line() for d in self.defects]
        out.append(self.summary())
        return out

    def to_dict(self) -> dict:
        return {**asdict(self), "summary": self.summary(), "ok": self.ok}


def inspect_file(path: str) -> tuple[str | None, Defect | None]:
    """(content digest, defect) of one file: unreadable, corrupt, or a wrong extension (still usable)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, Defect("unreadable", path, exc.strerror or str(exc))
    digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    try:
        decode_bytes(data, 3)
    except BadImage as exc:
        return digest, Defect("corrupt", path, str(exc))
    found, promised = sniff(data[:16]), extension_format(path)
    if found != promised:
        said = f"its extension says {promised}" if promised else f"'{Path(path).suffix}' is not an image extension"
        return digest, Defect("wrong_extension", path, f"the content is {found}, {said}")
    return digest, None


def check_files(files: FileList, workers: int) -> tuple[list[Defect], int]:
    """Decode every listed file; the defects found and the number of same-split duplicates."""
    from xaicli.viz.counter import Counter

    listed = [(split, path) for split, entries in files.splits.items() for path, _ in entries]
    defects: list[Defect] = []
    first_seen: dict[str, tuple[str, str]] = {}
    same_split = 0
    with Counter(len(listed), "checking images") as counter, ThreadPoolExecutor(max(1, workers)) as pool:
        for (split, path), (digest, defect) in zip(listed, pool.map(inspect_file, [p for _, p in listed]),
                                                   strict=True):
            counter.advance()
            if defect is not None:
                defects.append(defect)
            if digest is None:
                continue
            if digest not in first_seen:
                first_seen[digest] = (split, path)
            elif first_seen[digest][0] != split:
                other_split, other = first_seen[digest]
                defects.append(Defect("duplicate", path, f"the same image as {other} ({other_split} split) is in "
                                                         f"the {split} split"))
            else:
                same_split += 1
    return defects, same_split


def check_dataset(path: str | Path, workers: int = 0) -> CheckReport:
    """List and decode the folder or CSV dataset at `path` (a CSV file, else a folder); never raises for a
    defect of the data, only when `path` is not a dataset at all (XaiError)."""
    from xaicli.data.csv_list import list_csv
    from xaicli.data.filedata import decode_workers
    from xaicli.data.folder import list_folder

    path = Path(path).expanduser()
    kind = "csv" if path.is_file() else "folder"
    files = list_csv(path) if kind == "csv" else list_folder(path)
    defects, same_split = check_files(files, decode_workers(workers))
    counts = {split: [0] * len(files.classes) for split in files.splits}
    for split, entries in files.splits.items():
        for _, label in entries:
            counts[split][label] += 1
    order = {"bad_row": 0, "missing_class": 1, "extra_class": 1, "empty_class": 2}
    listing = sorted(files.defects, key=lambda d: order.get(d.kind, 3))
    return CheckReport(str(path), kind, files.classes, counts, files.roles, listing + defects, files.ignored,
                       same_split)
