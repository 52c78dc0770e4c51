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


# -- bad data and bad plugins, one kind each (tests/test_own_data.py, tests/test_plugins.py, scripts/reliability.py)

def _png(path: Path, size=(12, 12)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros(size[::-1], dtype=np.uint8)).save(path)


def bad_folder(kind: str, data: Path, outside: Path) -> tuple[dict, str]:
    """(benchmark params, a fragment the message must hold) for one kind of bad image folder."""
    root = image_folder(data / kind, classes=3, per_class=4)
    if kind == "empty-class":
        (root / "zzz").mkdir()
        return {"path": str(root)}, f"{root}/zzz holds no images"
    if kind == "one-image-class":
        _png(root / "solo" / "only.png")
        return {"path": str(root)}, f"{root}/solo holds one image"
    if kind == "not-an-image":
        (root / "class_a" / "000.png").write_bytes(b"this is no PNG")
        return {"path": str(root)}, f"{root}/class_a/000.png is not a readable image"
    if kind == "truncated":
        f = root / "class_b" / "001.png"
        f.write_bytes(f.read_bytes()[:60])
        return {"path": str(root)}, f"{root}/class_b/001.png cannot be decoded"
    if kind == "mixed-sizes":
        _png(root / "class_c" / "big.png", size=(20, 16))
        return {"path": str(root)}, "is 20x16 but"
    if kind == "outside":
        elsewhere = image_folder(outside / "elsewhere", classes=2, per_class=2)
        return {"path": str(elsewhere)}, "outside the allowed data roots"
    if kind == "symlink-out":
        (root / "class_a" / "escape.png").symlink_to(image_folder(outside / "o", classes=1, per_class=1) /
                                                   "class_a" / "000.png")
        return {"path": str(root)}, f"{root}/class_a/escape.png is a symlink to"
    if kind == "symlinked-root":
        (data / "link").symlink_to(image_folder(outside / "o2", classes=2, per_class=2))
        return {"path": str(data / "link")}, "is a symlink to"
    if kind == "missing":
        return {"path": str(data / "nowhere")}, "does not exist"
    if kind == "one-class":
        return {"path": str(image_folder(data / "one", classes=1, per_class=4))}, "expected at least 2 classes"
    if kind == "test-classes-differ":
        image_folder(data / "tt" / "train", classes=3, per_class=3)
        image_folder(data / "tt" / "test", classes=2, per_class=1)
        return {"path": str(data / "tt")}, "/tt/test has class_a, class_b"
    if kind == "loose-images":
        _png(root / "stray.png")
        return {"path": str(root)}, f"{root} holds images (stray.png) next to its folders"
    if kind == "too-many-experiences":
        return {"path": str(root), "n_experiences": 4}, "has 3 classes, expected 2..3"
    raise AssertionError(kind)


FOLDER_KINDS = ["empty-class", "one-image-class", "not-an-image", "truncated", "mixed-sizes", "outside",
                "symlink-out", "symlinked-root", "missing", "one-class", "test-classes-differ", "loose-images",
                "too-many-experiences"]


def bad_arrays(kind: str, data: Path) -> tuple[Path, str]:
    f = data / f"{kind}.npz"
    n = 40
    if kind == "missing-key":
        return arrays_file(f, x_test=None), "has no x_test"
    if kind == "length-mismatch":
        return arrays_file(f, y_train=np.zeros(3, dtype=np.int64)), "y_train has shape (3,) but x_train has"
    if kind == "float-labels":
        return arrays_file(f, y_train=np.zeros(4 * n, dtype=np.float32)), "y_train has dtype float32"
    if kind == "negative-label":
        return arrays_file(f, y_test=-np.ones(n, dtype=np.int64)), "y_test holds the negative value -1"
    if kind == "label-gap":
        y = np.arange(4 * n) % 4
        y[y == 2] = 3
        return arrays_file(f, y_train=y), "y_train has no class 2"
    if kind == "test-classes-differ":
        return arrays_file(f, y_test=np.arange(n) % 3), "y_test has no class 3"
    if kind == "shape-mismatch":
        return arrays_file(f, x_test=np.zeros((n, 5), dtype=np.float32)), "x_test's (5,)"
    if kind == "nan":
        x = np.zeros((4 * n, 6), dtype=np.float32)
        x[3, 2] = np.nan
        return arrays_file(f, x_train=x), "x_train holds NaN"
    if kind == "pickled":
        np.savez(f, x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1), x_test=np.zeros(1),
                 y_test=np.zeros(1))
        return f, "pickled"
    if kind == "not-npz":
        f.write_bytes(b"hello")
        return f, "is not an .npz file"
    if kind == "one-task-array":
        return arrays_file(f, tasks=True, task_test=None), "only one of task_train and task_test"
    if kind == "typo-key":
        return arrays_file(f, task_trian=np.zeros(4 * n, dtype=np.int64)), "unknown array 'task_trian'"
    raise AssertionError(kind)


ARRAY_KINDS = ["missing-key", "length-mismatch", "float-labels", "negative-label", "label-gap", "test-classes-differ",
               "shape-mismatch", "nan", "pickled", "not-npz", "one-task-array", "typo-key"]


GOOD_PLUGIN = '''
from bench.spec.params import ParamSpec
from bench.strategies.base import ALL_SCENARIOS, StrategySpec, avalanche

STRATEGIES = [StrategySpec(name="{name}", family="baselines", scenarios=ALL_SCENARIOS, description="x",
                           params=(ParamSpec(name="k", type="int", default=2, min=1, max=5),),
                           build=lambda ctx, p: avalanche("Naive")(**ctx.kwargs()))]
'''


BAD_PLUGINS = {  # kind -> (plugin source, what its error says)
    "syntax": ("def oops(:\n", "SyntaxError"),
    "raises": ("raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here"),
    "exits": ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
    "nothing": ("X = 1\n", "declares none of STRATEGIES"),
    "not-a-list": (GOOD_PLUGIN.format(name="one") + "STRATEGIES = STRATEGIES[0]\n",
                   "STRATEGIES is a StrategySpec: expected a list"),
    "wrong-type": ("STRATEGIES = [{'name': 'dict_strategy'}]\n", "STRATEGIES[0] is a dict: expected a StrategySpec"),
    "duplicate-builtin": (GOOD_PLUGIN.format(name="naive"), "the name 'naive' is already registered in strategies"),
    "bad-family": (GOOD_PLUGIN.format(name="fam").replace('"baselines"', '"magic"'), "family 'magic' not in"),
    "bad-default": (GOOD_PLUGIN.format(name="dflt").replace("default=2", "default=9"),
                    "default is refused by its own spec"),
    "default-type": (GOOD_PLUGIN.format(name="dtyp").replace("default=2", "default='2'"), "is not of its type int"),
    "bad-name": (GOOD_PLUGIN.format(name="a,b"), "has the name 'a,b'"),
    "bad-scenarios": (GOOD_PLUGIN.format(name="scn").replace("scenarios=ALL_SCENARIOS", "scenarios=('online',)"),
                      "scenarios ('online',) must be"),
    "benchmark-without-load": ("from bench.benchmarks.base import BenchmarkSpec\nBENCHMARKS = [BenchmarkSpec("
                               "name='b', description='', kind='split', params=(), scenarios=('class',), "
                               "load=None)]\n", "without make"),
}
