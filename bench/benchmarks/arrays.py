"""`arrays`: your own tensors (features, images, any shape) from one .npz file as a task stream.

The file holds x_train, y_train, x_test, y_test, and optionally task_train and task_test (one experience per task
id, in id order) and class_names. x is used as given (scale it yourself), y are integer labels 0..C-1. Everything
is checked before a run is stored; the file is read with allow_pickle=False, so it can run no code."""
from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass

import numpy as np

from bench.benchmarks.base import CLASS_ORDER, BenchmarkSpec, RawSplit, split_stream
from bench.benchmarks.own_files import resolve_user_path
from bench.benchmarks.own_stream import (
    N_EXPERIENCES,
    Preview,
    class_groups,
    experience_rows,
    first_per_class,
    grouped_stream,
    groups_share_classes,
    n_experiences,
    refuse_class_scenario,
    to_display,
)
from bench.spec.params import BadInput, ParamSpec

NAME = "arrays"
REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("task_train", "task_test", "class_names")

PARAMS = (
    ParamSpec(name="path", type="str", default="",
              help="An .npz file with x_train, y_train, x_test, y_test (optionally task_train, task_test, "
                   "class_names), inside the allowed data roots ($BENCH_DATA_ROOTS, else the data directory and "
                   "your home)."),
    N_EXPERIENCES, CLASS_ORDER,
)


@dataclass(frozen=True)
class Arrays:
    """A checked .npz: the arrays, the number of classes and of tasks (0 without task ids), the class names."""

    path: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task_train: np.ndarray | None
    task_test: np.ndarray | None
    n_classes: int
    n_tasks: int
    class_names: list[str]


def _fail(path: str, problem: str) -> BadInput:
    return BadInput(f"{NAME}: {path}: {problem}")


def _open(path: str) -> dict[str, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or exc})") from None
    if magic == b"\x93NUMPY":
        raise _fail(path, "is a single array (.npy): expected an .npz with x_train, y_train, x_test, y_test")
    if not magic.startswith(b"PK"):  # an .npz is a zip archive
        raise _fail(path, "is not an .npz file (np.savez writes a zip archive; this is not one)")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise _fail(path, "holds pickled Python objects: expected plain arrays (np.savez)") from None
        raise _fail(path, f"is not an .npz file numpy can read ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _fail(path, f"is not an .npz file numpy can read ({exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise _fail(path, "is a single array (.npy): expected an .npz with x_train, y_train, x_test, y_test")
    with data:
        missing = [k for k in REQUIRED if k not in data.files]
        if missing:
            raise _fail(path, f"has no {missing[0]}: expected {', '.join(REQUIRED)} (it holds "
                              f"{', '.join(data.files) or 'nothing'})")
        unknown = [k for k in data.files if k not in REQUIRED + OPTIONAL]
        if unknown:
            raise _fail(path, f"holds an unknown array {unknown[0]!r}: expected {', '.join(REQUIRED + OPTIONAL)}")
        out = {}
        for k in data.files:
            try:
                out[k] = data[k]
            except ValueError:
                raise _fail(path, f"{k} holds pickled Python objects: expected a plain array") from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise _fail(path, f"{k} cannot be read ({exc})") from None
    return out


def _check_x(path: str, a: dict) -> None:
    for k in ("x_train", "x_test"):
        x = a[k]
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
                or x.dtype == np.bool_):
            raise _fail(path, f"{k} has dtype {x.dtype}: expected numbers (integers or floats)")
        if x.ndim < 2 or len(x) == 0:
            raise _fail(path, f"{k} has shape {x.shape}: expected (samples, features...) with at least one sample")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise _fail(path, f"{k} holds NaN or infinite values")
    if a["x_train"].shape[1:] != a["x_test"].shape[1:]:
        raise _fail(path, f"x_train's samples have shape {a['x_train'].shape[1:]} but x_test's "
                          f"{a['x_test'].shape[1:]}: expected the same")


def _check_ids(path: str, a: dict, name: str, x_key: str) -> np.ndarray:
    """A label or task-id array: 1-D integers, one per sample of its x, none negative."""
    y = a[name]
    if not np.issubdtype(y.dtype, np.integer):
        raise _fail(path, f"{name} has dtype {y.dtype}: expected integers")
    if y.ndim != 1 or len(y) != len(a[x_key]):
        raise _fail(path, f"{name} has shape {y.shape} but {x_key} has {len(a[x_key])} samples: expected "
                          f"({len(a[x_key])},)")
    if y.min() < 0:
        raise _fail(path, f"{name} holds the negative value {int(y.min())}: expected 0, 1, 2, ...")
    return y.astype(np.int64)


def _same_ids(path: str, train: np.ndarray, test: np.ndarray, what: str, names: tuple[str, str]) -> int:
    """The number of ids (max + 1), when every id 0..n-1 appears in train and test alike; else BadInput."""
    n = int(train.max()) + 1
    absent = sorted(set(range(n)) - set(np.unique(train).tolist()))
    if absent:
        raise _fail(path, f"{names[0]} has no {what} {absent[0]} (its values run 0..{n - 1}): expected every "
                          f"{what} in 0..{n - 1} to appear")
    a, b = set(np.unique(train).tolist()), set(np.unique(test).tolist())
    if a != b:
        extra = sorted(b - a)
        detail = f"the {what} {extra[0]}, which {names[0]} lacks" if extra else f"no {what} {sorted(a - b)[0]}"
        raise _fail(path, f"{names[1]} has {detail}: expected the same {what}s in train and test")
    return n


@functools.lru_cache(maxsize=1)
def _read(path: str, size: int, mtime_ns: int) -> Arrays:
    a = _open(path)
    _check_x(path, a)
    y_tr, y_te = _check_ids(path, a, "y_train", "x_train"), _check_ids(path, a, "y_test", "x_test")
    n_classes = _same_ids(path, y_tr, y_te, "class", ("y_train", "y_test"))
    if n_classes < 2:
        raise _fail(path, "y_train holds one class: expected at least 2")
    t_tr = t_te = None
    n_tasks = 0
    if ("task_train" in a) != ("task_test" in a):
        raise _fail(path, "has only one of task_train and task_test: expected both or neither")
    if "task_train" in a:
        t_tr, t_te = _check_ids(path, a, "task_train", "x_train"), _check_ids(path, a, "task_test", "x_test")
        n_tasks = _same_ids(path, t_tr, t_te, "task", ("task_train", "task_test"))
        for t in range(n_tasks):
            a_t, b_t = set(np.unique(y_tr[t_tr == t]).tolist()), set(np.unique(y_te[t_te == t]).tolist())
            if a_t != b_t:
                raise _fail(path, f"task {t} has the classes {sorted(a_t)} in train but {sorted(b_t)} in test: "
                                  f"expected the same")
    names = [str(c) for c in range(n_classes)]
    if "class_names" in a:
        cn = a["class_names"]
        if cn.ndim != 1 or len(cn) != n_classes or cn.dtype.kind not in "US":
            raise _fail(path, f"class_names has shape {cn.shape} and dtype {cn.dtype}: expected {n_classes} strings")
        names = [str(c) for c in cn]
    return Arrays(path, a["x_train"], y_tr, a["x_test"], y_te, t_tr, t_te, n_classes, n_tasks, names)


def read(path: str) -> Arrays:
    """The checked arrays of a user-given path, or BadInput naming the file and the problem."""
    real = resolve_user_path(path, owner=NAME)
    if not real.is_file():
        raise BadInput(f"{NAME}: path={path!r} is not a file: expected an .npz file")
    st = real.stat()
    return _read(str(real), st.st_size, st.st_mtime_ns)


def check(params: dict) -> None:
    a = read(params["path"])
    n_experiences(params["n_experiences"], n_classes=a.n_classes, n_groups=a.n_tasks, owner=NAME)


def check_scenario(params: dict, scenario: str) -> None:
    a = read(params["path"])
    if scenario == "class" and a.n_tasks and groups_share_classes(a.y_train, a.task_train, a.n_tasks):
        raise refuse_class_scenario(NAME, "task")


def make(params: dict, scenario: str, *, seed: int, data_dir: str | None = None):
    import torch

    a = read(params["path"])
    n_exp = n_experiences(params["n_experiences"], n_classes=a.n_classes, n_groups=a.n_tasks, owner=NAME)
    info = {"source": f"arrays {a.path} ({len(a.y_train):,} train / {len(a.y_test):,} test samples)",
            "class_names": a.class_names}
    raw = RawSplit(torch.as_tensor(np.asarray(a.x_train, dtype=np.float32)), torch.from_numpy(a.y_train),
                   torch.as_tensor(np.asarray(a.x_test, dtype=np.float32)), torch.from_numpy(a.y_test),
                   a.n_classes, info)
    if not a.n_tasks:
        return split_stream(NAME, raw, n_exp, scenario, seed=seed, order=params["class_order"])
    return grouped_stream(NAME, raw, a.task_train, a.task_test, scenario,
                          group_names=[f"task {t}" for t in range(a.n_tasks)])


def preview(params: dict, *, seed: int = 0) -> Preview:
    a = read(params["path"])
    n_exp = n_experiences(params["n_experiences"], n_classes=a.n_classes, n_groups=a.n_tasks, owner=NAME)
    if a.n_tasks:
        cuts = [tuple(np.unique(a.y_train[a.task_train == t]).tolist()) for t in range(a.n_tasks)]
        rows = experience_rows(a.y_train, a.y_test, cuts, a.class_names, g_train=a.task_train, g_test=a.task_test,
                               group_names=[f"task {t}" for t in range(a.n_tasks)])
    else:
        cuts = class_groups(a.n_classes, n_exp, seed=seed, order=params["class_order"])
        rows = experience_rows(a.y_train, a.y_test, cuts, a.class_names)
    shape = a.x_train.shape[1:]
    image_like = (len(shape) == 3 and shape[0] in (1, 3)) or len(shape) == 2
    samples = []
    if image_like:
        for i in first_per_class(a.y_train, a.n_classes):
            x = a.x_train[i] if len(shape) == 3 else a.x_train[i][None]
            samples.append((a.class_names[a.y_train[i]], to_display(x)))
    notes = ["Values are used as stored (no scaling)."]
    if not image_like:
        notes.append(f"Samples of shape {shape} are not images: no pictures to show.")
    if not a.n_tasks and params["class_order"] == "seeded":
        notes.append(f"Classes per experience shown for seed {seed}; each run shuffles them by its own seed.")
    title = (f"{len(a.y_train):,} train / {len(a.y_test):,} test samples of shape {shape}, {a.n_classes} classes"
             f"{f', {a.n_tasks} tasks' if a.n_tasks else ''}: {len(rows)} experiences")
    return Preview(title=title, class_names=a.class_names, experiences=rows, samples=samples, notes=notes)


SPECS = [
    BenchmarkSpec(
        name=NAME, kind="arrays", params=PARAMS, scenarios=("class", "task", "domain"), load=None, make=make,
        check=check, check_scenario=check_scenario,
        description="Your own tensors from an .npz file (x_train, y_train, x_test, y_test, optional task ids): "
                    "features or any tensor data, cut by class or by task id.",
    ),
]
