"""Own data for the tests, written in the real on-disk formats: PNG folders written with PIL, and .npz files."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def pattern(k: int, rng: np.random.RandomState, size: int, *, rgb: bool) -> np.ndarray:
    """Class k: a bright block in cell k of a 3x3 grid over noise (learnable, unlike random labels)."""
    img = rng.randint(0, 60, size=(size, size, 3) if rgb else (size, size)).astype(np.uint8)
    cell = size // 3
    r, c = divmod(k % 9, 3)
    block = (slice(r * cell, (r + 1) * cell), slice(c * cell, (c + 1) * cell))
    img[block] = 230 if not rgb else np.array([230, 40 + 60 * (k % 3), 200], dtype=np.uint8)
    return img


def image_folder(root: Path, *, classes: int = 4, per_class: int = 10, size: int = 12, rgb: bool = False,
                 names: list[str] | None = None, seed: int = 0, ext: str = "png") -> Path:
    """root/<class>/<i>.png for each class, in ImageFolder's layout."""
    from PIL import Image

    rng = np.random.RandomState(seed)
    names = names or [f"class_{chr(ord('a') + k)}" for k in range(classes)]
    for k, name in enumerate(names):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(pattern(k, rng, size, rgb=rgb)).save(d / f"{i:03d}.{ext}")
    return root


def domain_folder(root: Path, *, domains: int = 3, classes: int = 3, per_class: int = 8, size: int = 12) -> Path:
    """root/<domain>/<class>/<i>.png: the same classes in every domain, each domain brighter than the last."""
    from PIL import Image

    rng = np.random.RandomState(1)
    for d in range(domains):
        for k in range(classes):
            folder = root / f"domain{d}" / f"class_{k}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                img = np.clip(pattern(k, rng, size, rgb=False).astype(int) + 20 * d, 0, 255).astype(np.uint8)
                Image.fromarray(np.flipud(img) if d % 2 else img).save(folder / f"{i:03d}.png")
    return root


def arrays_file(path: Path, *, classes: int = 4, n: int = 40, dim: int = 6, tasks: bool = False, **override) -> Path:
    """An .npz of Gaussian clusters (one per class), with task ids (two classes per task) when asked."""
    rng = np.random.RandomState(0)
    centers = rng.normal(0, 3, size=(classes, dim))

    def part(m):
        y = np.arange(m) % classes
        return (centers[y] + rng.normal(0, 0.5, size=(m, dim))).astype(np.float32), y.astype(np.int64)

    x_tr, y_tr = part(n * classes)
    x_te, y_te = part(n * classes // 4)
    arrays = {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}
    if tasks:
        arrays["task_train"], arrays["task_test"] = y_tr // 2, y_te // 2
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path
