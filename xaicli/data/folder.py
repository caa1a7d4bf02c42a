"""`data.name: folder`: a class per sub-folder, as torchvision's ImageFolder reads it.

Layouts: `ROOT/train/<class>/*` with held-out folders `ROOT/val|valid|validation/<class>/*` and/or
`ROOT/test/<class>/*`; or `ROOT/<class>/*` alone. Roles: a `test` folder is the test split and a
`val`-like folder the validation split when both are there; a single held-out folder, whatever its
name, is the test split (never used for choosing best.pt), and the validation split is then carved
from train/ (data.val_split). Classes are the sorted names of train/'s sub-folders, and every split
must have the same ones.
"""

from __future__ import annotations

from pathlib import Path

from xaicli.data.filelist import FileList, class_defects, image_files, split_role, subfolders
from xaicli.data.registry import DATASETS
from xaicli.errors import XaiError


def split_folders(root: Path) -> dict[str, Path]:
    """split -> folder for a split layout (empty for a plain class-folder layout). Raises XaiError for
    two folders of one role or held-out folders without train/."""
    found: dict[str, list[str]] = {}
    for name in subfolders(root):
        role = split_role(name)
        if role is not None:
            found.setdefault(role, []).append(name)
    if not found:
        return {}
    for role, names in found.items():
        if len(names) > 1:
            raise XaiError(f"data.root {root}: {' and '.join(n + '/' for n in names)} are both {role} folders; "
                           f"keep one")
    if "train" not in found:
        raise XaiError(f"data.root {root}: {found[next(iter(found))][0]}/ but no train/ folder; put the "
                       f"training images in {root / 'train'}/<class>/")
    folders = {role: root / found[role][0] for role in ("train", "val", "test") if role in found}
    if "val" in folders and "test" not in folders:  # the only held-out folder is the test split
        folders["test"] = folders.pop("val")
    return folders


def list_folder(root: str | Path) -> FileList:
    """The folder dataset at `root`, with the defects found while listing (not raised here)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise XaiError(f"data.root {root}: not a folder (data.name folder expects ROOT/train/<class>/ or "
                       f"ROOT/<class>/ folders of images)")
    folders = split_folders(root) or {"train": root}
    classes = subfolders(folders["train"])
    if not classes:
        raise XaiError(f"data.root {root}: no class folders in {folders['train']} (expected "
                       f"{folders['train']}/<class>/<images>)")
    splits: dict[str, list[tuple[str, int]]] = {}
    counts: dict[str, dict[str, int]] = {}
    ignored: list[str] = []
    index = {name: i for i, name in enumerate(classes)}
    for split, folder in folders.items():
        files: list[tuple[str, int]] = []
        counts[split] = {}
        for name in subfolders(folder):
            images, others = image_files(folder / name)
            ignored += others
            counts[split][name] = len(images)
            if name in index:
                files += [(path, index[name]) for path in images]
        splits[split] = files
    roles = {split: str(folder) for split, folder in folders.items()}
    if "test" in folders and "val" not in folders and split_role(folders["test"].name) == "val":
        roles["test"] = f"{folders['test']} (the only held-out folder: the test split)"
    defects = class_defects(classes, counts, {s: str(f) for s, f in folders.items()})
    return FileList(root, classes, splits, roles, defects, ignored)


@DATASETS.register("folder")
def folder(root: str, data_cfg=None, validation: bool = True, **_):
    from xaicli.data.filedata import load_file_dataset

    return load_file_dataset(list_folder(root), data_cfg, validation, "folder")
