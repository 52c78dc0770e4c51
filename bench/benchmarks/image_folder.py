"""`image-folder`: your own images as a task stream, read from a folder with one sub-folder per class
(torchvision's ImageFolder layout) or one folder per domain holding class sub-folders, optionally under train/ and
test/.

Class indices are the class folders' names in sorted order (as ImageFolder assigns them); domains are experiences
in their folders' name order. Everything is checked before a run is stored: the folder's place (inside the allowed
data roots, no symlink leaving them), its layout, every class's images, and every image is decoded once. The decoded
pixels (uint8) are cached by content (bench/benchmarks/own_files.py), so later runs and workers read the cache."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.benchmarks.base import CLASS_ORDER, BenchmarkSpec, RawSplit, split_stream
from bench.benchmarks.image_decode import decode_one, ensure_decoded, pixels
from bench.benchmarks.own_files import (
    children,
    data_roots,
    files_under,
    resolve_user_path,
)
from bench.benchmarks.own_stream import (
    N_EXPERIENCES,
    TEST_FRACTION,
    Preview,
    class_groups,
    experience_rows,
    first_per_class,
    fixed_split,
    grouped_stream,
    groups_share_classes,
    n_experiences,
    refuse_class_scenario,
    to_display,
)
from bench.spec.params import BadInput, ParamSpec

NAME = "image-folder"
# torchvision.datasets.folder.IMG_EXTENSIONS
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

PARAMS = (
    ParamSpec(name="path", type="str", default="",
              help="The folder: one sub-folder per class, or one per domain holding class sub-folders; optionally "
                   "under train/ and test/. It must lie inside the allowed data roots ($BENCH_DATA_ROOTS, else the "
                   "data directory and your home)."),
    ParamSpec(name="size", type="int", default=0, min=0, max=1024,
              help="Resize every image to size x size pixels (bilinear); 0 keeps the images' own size, which must "
                   "then be the same for all."),
    ParamSpec(name="color", type="str", default="auto", choices=("auto", "grey", "rgb"),
              help="grey: one channel; rgb: three; auto: rgb when any image has colour, else grey."),
    ParamSpec(name="layout", type="str", default="auto", choices=("auto", "classes", "domains"),
              help="classes: each top-level folder is a class; domains: each is a domain holding class folders "
                   "(one experience per domain); auto: domains when every top-level folder holds no images but two "
                   "or more folders."),
    N_EXPERIENCES, CLASS_ORDER, TEST_FRACTION,
)


@dataclass(frozen=True)
class Scan:
    """A folder's layout and files, before any image is opened."""

    root: Path
    layout: str  # "classes" or "domains"
    has_test: bool  # train/ and test/ sub-trees (else a fixed held-out share of each class)
    classes: tuple[str, ...]
    domains: tuple[str, ...]  # () in the classes layout
    files: tuple[str, ...]
    entries: tuple  # the files' own_files.Entry (size, mtime) for the cache key
    labels: np.ndarray  # class index of each file
    groups: np.ndarray  # domain index of each file (0 in the classes layout)
    in_test: np.ndarray  # bool: the file is in test/ (all False without train/ and test/)


def _image_files(folder: str, roots: list[Path]) -> list:
    found = files_under(folder, IMAGE_EXTENSIONS, owner=NAME, roots=roots)
    if not found:
        raise BadInput(f"{NAME}: the class folder {folder} holds no images (expected files ending in "
                       f"{', '.join(IMAGE_EXTENSIONS)})")
    return found


def _folders(directory: str | Path, roots: list[Path], *, expected: str) -> list:
    entries = children(directory, owner=NAME, roots=roots)
    loose = [e.name for e in entries if not e.is_dir and e.name.lower().endswith(IMAGE_EXTENSIONS)]
    if loose:
        raise BadInput(f"{NAME}: {directory} holds images ({loose[0]}) next to its folders: expected only "
                       f"{expected} folders there (put each class's images in a folder named after the class)")
    folders = [e for e in entries if e.is_dir]
    if not folders:
        raise BadInput(f"{NAME}: {directory} has no sub-folders: expected one folder per {expected}")
    return folders


def _looks_like_domain(folder: str, roots: list[Path]) -> bool:
    entries = children(folder, owner=NAME, roots=roots)
    has_images = any(not e.is_dir and e.name.lower().endswith(IMAGE_EXTENSIONS) for e in entries)
    return not has_images and sum(e.is_dir for e in entries) >= 2


def _read_tree(directory: str | Path, layout: str, roots: list[Path]) -> tuple[str, dict]:
    """(layout, {domain name: {class name: [files]}}) of one split; the classes layout has one domain ''."""
    top = _folders(directory, roots, expected="class (or domain)")
    if layout == "auto":
        layout = "domains" if all(_looks_like_domain(e.path, roots) for e in top) else "classes"
    if layout == "classes":
        return layout, {"": {e.name: _image_files(e.path, roots) for e in top}}
    return layout, {d.name: {c.name: _image_files(c.path, roots) for c in _folders(d.path, roots, expected="class")}
                    for d in top}


def _same_tree(train: dict, test: dict, root: Path) -> None:
    if sorted(train) != sorted(test):
        raise BadInput(f"{NAME}: {root}/train has the domains {', '.join(sorted(train))} but {root}/test has "
                       f"{', '.join(sorted(test))}: expected the same folders in both")
    for d in train:
        a, b = sorted(train[d]), sorted(test[d])
        if a != b:
            where = f"/{d}" if d else ""
            raise BadInput(f"{NAME}: {root}/train{where} has the classes {', '.join(a)} but {root}/test{where} has "
                           f"{', '.join(b)}: expected the same class folders in both")


def scan_folder(path: str, layout: str = "auto") -> Scan:
    """Read the folder's layout and list its images, or BadInput naming the folder and what is wrong."""
    root = resolve_user_path(path, owner=NAME)
    if not root.is_dir():
        raise BadInput(f"{NAME}: path={path!r} is not a folder: expected a folder of class folders")
    roots = data_roots()
    top = {e.name: e for e in children(root, owner=NAME, roots=roots) if e.is_dir}
    has_test = "train" in top and "test" in top
    trees = []
    for split in (("train", "test") if has_test else ("",)):
        found_layout, tree = _read_tree(top[split].path if split else root, layout, roots)
        layout = found_layout  # test/ is read with the layout found in train/
        trees.append(tree)
    if has_test:
        _same_tree(trees[0], trees[1], root)
    classes = sorted({c for tree in trees for d in tree.values() for c in d})
    domains = sorted(trees[0]) if layout == "domains" else []
    if len(classes) < 2:
        raise BadInput(f"{NAME}: {root} has {len(classes)} class folder(s): expected at least 2 classes")
    entries, labels, groups, in_test = [], [], [], []
    for split, tree in enumerate(trees):
        for d in sorted(tree):
            for c in sorted(tree[d]):
                imgs = tree[d][c]
                if not has_test and len(imgs) < 2:
                    raise BadInput(f"{NAME}: the class folder {os.path.dirname(imgs[0].path)} holds one image: a "
                                   f"class needs at least 2 (one to train on, one to test), or give train/ and "
                                   f"test/ folders")
                entries += imgs
                labels += [classes.index(c)] * len(imgs)
                groups += [domains.index(d) if domains else 0] * len(imgs)
                in_test += [split == 1] * len(imgs)
    return Scan(root=root, layout=layout, has_test=has_test, classes=tuple(classes), domains=tuple(domains),
                files=tuple(e.path for e in entries), entries=tuple(entries),
                labels=np.array(labels, dtype=np.int64), groups=np.array(groups, dtype=np.int64),
                in_test=np.array(in_test, dtype=bool))


# -- the spec's hooks -------------------------------------------------------------------------------------------------

def _n_exp(scan: Scan, params: dict) -> int:
    return n_experiences(params["n_experiences"], n_classes=len(scan.classes), n_groups=len(scan.domains),
                         owner=NAME)


def check(params: dict) -> None:
    """Everything a run needs of the folder, checked (and decoded into the cache) before the run is stored."""
    scan = scan_folder(params["path"], params["layout"])
    _n_exp(scan, params)
    ensure_decoded(scan.entries, params["size"], params["color"])


def check_scenario(params: dict, scenario: str) -> None:
    if scenario != "class" or params["layout"] == "classes":  # only domain folders can refuse a scenario
        return
    scan = scan_folder(params["path"], params["layout"])
    if scenario == "class" and scan.domains and groups_share_classes(scan.labels, scan.groups, len(scan.domains)):
        raise refuse_class_scenario(NAME, "domain folder")


def _test_mask(scan: Scan, fraction: float) -> np.ndarray:
    if scan.has_test:
        return scan.in_test
    return fixed_split(scan.groups * len(scan.classes) + scan.labels, fraction)


def make(params: dict, scenario: str, *, seed: int, data_dir: str | None = None):
    import torch

    scan = scan_folder(params["path"], params["layout"])
    n_exp = _n_exp(scan, params)
    pixels_u8, mode = pixels(scan.entries, params["size"], params["color"])
    x = torch.from_numpy(pixels_u8).float().div_(255.0)
    y = torch.from_numpy(scan.labels)
    test = _test_mask(scan, params["test_fraction"])
    tr, te = torch.from_numpy(~test), torch.from_numpy(test)
    info = {"source": f"image folder {scan.root} ({len(scan.files):,} images, {len(scan.classes)} classes"
                      f"{f', {len(scan.domains)} domains' if scan.domains else ''}, {mode})",
            "class_names": list(scan.classes)}
    raw = RawSplit(x[tr], y[tr], x[te], y[te], len(scan.classes), info)
    if scan.layout == "classes":
        return split_stream(NAME, raw, n_exp, scenario, seed=seed, order=params["class_order"])
    return grouped_stream(NAME, raw, scan.groups[~test], scan.groups[test], scenario, group_names=list(scan.domains))


def preview(params: dict, *, seed: int = 0) -> Preview:
    """The folder as the Launch form shows it: classes, experiences with their counts, one image per class."""
    scan = scan_folder(params["path"], params["layout"])
    n_exp = _n_exp(scan, params)
    _, mode, decoded = ensure_decoded(scan.entries, params["size"], params["color"])
    test = _test_mask(scan, params["test_fraction"])
    names = list(scan.classes)
    y_tr, y_te = scan.labels[~test], scan.labels[test]
    if scan.domains:
        cuts = [tuple(np.unique(y_tr[scan.groups[~test] == g]).tolist()) for g in range(len(scan.domains))]
        rows = experience_rows(y_tr, y_te, cuts, names, g_train=scan.groups[~test], g_test=scan.groups[test],
                               group_names=list(scan.domains))
    else:
        cuts = class_groups(len(names), n_exp, seed=seed, order=params["class_order"])
        rows = experience_rows(y_tr, y_te, cuts, names)
    picks = first_per_class(scan.labels, len(names))
    samples = [(names[scan.labels[i]], to_display(decode_one(scan.files[i], mode, params["size"]))) for i in picks]
    shape = decode_one(scan.files[picks[0]], mode, params["size"]).shape  # C x H x W
    split = "its own train/ and test/ folders" if scan.has_test else \
        f"a fixed {params['test_fraction']:.0%} of each class held out for testing"
    notes = [f"Test data: {split}."]
    if not scan.domains and params["class_order"] == "seeded":
        notes.append(f"Classes per experience shown for seed {seed}; each run shuffles them by its own seed.")
    notes.append("Decoded now and cached for every later run." if decoded else "Read from the decode cache.")
    title = (f"{len(scan.files):,} images in {len(names)} classes"
             f"{f' and {len(scan.domains)} domains' if scan.domains else ''}, {shape[2]}x{shape[1]} "
             f"{'grey' if shape[0] == 1 else 'RGB'}: {len(rows)} experiences")
    return Preview(title=title, class_names=names, experiences=rows, samples=samples, notes=notes)


SPECS = [
    BenchmarkSpec(
        name=NAME, kind="split", params=PARAMS, scenarios=("class", "task", "domain"), load=None, make=make,
        check=check, check_scenario=check_scenario,
        description="Your own images: a folder with one sub-folder per class (or per domain, each with class "
                    "folders), optionally under train/ and test/; resized, grey or RGB, cut by class or by domain.",
    ),
]
