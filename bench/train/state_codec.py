"""A live object graph (a strategy, its plugins, their buffers) <-> a tree of tensors, numbers and strings, and that
tree <-> bytes that cannot run code when read.

Why not pickle: a checkpoint file is data someone may hand over, and unpickling one can run anything. The bytes are
written with ``torch.save`` and read with ``torch.load(weights_only=True)``, whose unpickler refuses every global but
tensors and plain containers, and the tree read back is checked again here: only dicts with string keys, lists, str,
int, float, bool, None and tensors; anything else is refused (CheckpointError).

The encoding walks objects the way their own code stores state, and each kind becomes a tagged dict (``"__t"``):

- modules -> their ``state_dict`` plus each submodule's train/eval flag, ``requires_grad`` and plain attributes (a
  prompt method's ``task``); frozen parameters (``requires_grad=False``) are not stored but fingerprinted, because
  the run rebuilds them identically (a frozen ViT need not be written at every experience); restoring checks the
  fingerprint and refuses a mismatch;
- optimizers, learning-rate schedulers and anything else with ``state_dict``/``load_state_dict`` -> their state;
- ``torch.Generator``, numpy ``RandomState`` and ``random.Random`` -> their states;
- Avalanche datasets (replay buffers) -> their samples and data attributes as tensors, rebuilt as tensor datasets
  yielding the same items in the same order;
- tensors -> themselves; a tensor that is the same object as, or a view of, a registered module's parameter or
  buffer -> a reference (Avalanche's optimizer map names the model's own parameters; its SI plugin keeps views);
- dicts, lists, tuples, sets -> tagged containers; an object met twice -> a reference to its first path;
- plain objects of Avalanche's and the bench's own classes (plugins, storage policies, ``ParamData``) -> their
  attributes, recursively; strategies (templates) likewise, without the per-step attributes of a training loop.

What is not state is skipped (functions, bound methods); what cannot be encoded (data loaders, iterators, objects of
other libraries) is dropped and its path listed in ``Encoder.dropped``, so that bench/train/checkpoint.py can refuse
a checkpoint whose strategy drops something its adapter does not rebuild.

Decoding (bench/train/state_decode.py) restores *into* a freshly built run: an object that exists there is
updated in place, one that does not is made.
"""
from __future__ import annotations

import collections
import functools
import io
import random
import sys
import types
from typing import Any

import numpy as np
import torch
from torch import nn

NOT_STATE = (type, types.FunctionType, types.MethodType, types.BuiltinFunctionType, functools.partial)

TAG = "__t"
DROP = object()  # encode() result for a value that cannot be encoded (its path goes to Encoder.dropped)
_SKIPPED = object()  # encode() result for what is not state (functions, methods, classes)
SKIP_ATTRS = frozenset({  # a training loop's per-step attributes: rebuilt by the next experience
    "experience", "adapted_dataset", "dataloader", "mbatch", "mb_output", "loss", "current_eval_stream",
    "_eval_streams", "evaluator", "device", "mb_buffer_x", "mb_buffer_y", "mb_buffer_tid", "mb_buffer_out",
    "batch_logits",
})
ALLOWED_PACKAGES = ("avalanche.", "bench.")  # classes a checkpoint may name (looked up, never imported)
DEFAULT_FACTORIES = {"set": set, "list": list, "dict": dict, "int": int, "float": float}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the run being restored."""


# -- bytes ---------------------------------------------------------------------------------------------------------
def dumps(tree: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(tree, buf)
    return buf.getvalue()


def loads(data: bytes) -> Any:
    """The tree in `data`, read so that no code can run (weights_only), and checked to hold only allowed types."""
    try:
        tree = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler refuses globals it does not know: a code-running pickle lands here
        raise CheckpointError(f"not a bench checkpoint: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") \
            from None
    check_tree(tree)
    return tree


def check_tree(tree: Any, path: str = "") -> None:
    stack = [(tree, path)]
    while stack:
        node, where = stack.pop()
        if node is None or type(node) in (bool, int, float, str) or type(node) is torch.Tensor:
            continue
        if type(node) is list:
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))
        elif type(node) is dict:
            for k, v in node.items():
                if type(k) is not str:
                    raise CheckpointError(f"checkpoint holds a dict key of type {type(k).__name__} at {where!r}")
                stack.append((v, f"{where}.{k}"))
        else:
            raise CheckpointError(f"checkpoint holds a {type(node).__name__} at {where!r}: only dicts, lists, "
                                  "numbers, strings and tensors are allowed")


# -- helpers ---------------------------------------------------------------------------------------------------------
def class_name(obj: Any) -> str:
    return f"{type(obj).__module__}:{type(obj).__qualname__}"


def allowed_class(name: str) -> type:
    """The class a checkpoint names, among those already imported from Avalanche or the bench (nothing is imported:
    a checkpoint cannot make a module load)."""
    module, _, qual = name.partition(":")
    if not module.startswith(ALLOWED_PACKAGES) or module not in sys.modules:
        raise CheckpointError(f"checkpoint names class {name!r}: only Avalanche's and the bench's loaded classes")
    obj: Any = sys.modules[module]
    for part in qual.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(obj, type) or issubclass(obj, (nn.Module, torch.optim.Optimizer)):
        raise CheckpointError(f"checkpoint names {name!r}, which is not a plain state class")
    return obj


def is_template(obj: Any) -> bool:
    from avalanche.training.templates.base import BaseTemplate

    return isinstance(obj, BaseTemplate)


def is_dataset(obj: Any) -> bool:
    from avalanche.benchmarks.utils.data import AvalancheDataset

    return isinstance(obj, AvalancheDataset)


def fingerprint(t: torch.Tensor) -> torch.Tensor:
    d = t.detach().double()
    return torch.stack([d.sum(), (d * d).sum(), torch.tensor(float(t.numel()), dtype=torch.float64,
                                                             device=d.device)]).cpu()


def _plain_encode(v: Any) -> Any:
    """A module's plain attribute (a number, a string, or a list, tuple or set of them)."""
    if type(v) in (tuple, set):
        return {TAG: type(v).__name__, "v": sorted(v, key=repr) if type(v) is set else list(v)}
    return list(v) if type(v) is list else v


def _primitive(v: Any) -> bool:
    if v is None or type(v) in (bool, int, float, str):
        return True
    return type(v) in (list, tuple, set) and all(x is None or type(x) in (bool, int, float, str) for x in v)


# -- encoding ----------------------------------------------------------------------------------------------------------
class Encoder:
    """One pass over a live graph. `skip` holds objects left out entirely (the recorder, the evaluator)."""

    def __init__(self, *, skip: tuple = ()) -> None:
        self.skip_ids = {id(o) for o in skip}
        self.paths: dict[int, list] = {}  # id(object) -> path of its first encoding
        self.storages: dict[int, tuple[list, str, str]] = {}  # storage ptr -> (module path, "param"/"buffer", name)
        self.dropped: list[str] = []
        self._keep: list = []  # encoded objects stay alive, so their ids are not reused during the pass

    def encode(self, v: Any, path: list) -> Any:
        if v is None or type(v) in (bool, int, float, str):
            return v
        if isinstance(v, (np.integer, np.floating, np.bool_)):
            return v.item()
        if isinstance(v, (torch.device, torch.dtype)):
            return {TAG: "device" if isinstance(v, torch.device) else "dtype", "v": str(v).replace("torch.", "")}
        if id(v) in self.paths:
            return {TAG: "ref", "path": self.paths[id(v)]}
        if isinstance(v, torch.Tensor):
            return self._tensor(v, path)
        if isinstance(v, NOT_STATE):
            return _SKIPPED
        self.paths[id(v)] = path
        self._keep.append(v)
        return self._container(v, path)

    def _container(self, v: Any, path: list) -> Any:
        if isinstance(v, dict):
            keys, vals = [], []
            for k, x in v.items():
                ek, ex = self.encode(k, [*path, "key"]), self.encode(x, [*path, k])
                if ex is _SKIPPED or ex is DROP:  # a drop is listed in self.dropped by encode
                    continue
                if ek is DROP or ek is _SKIPPED:
                    self.dropped.append(show_path([*path, k]))
                    continue
                keys.append(ek)
                vals.append(ex)
            out = {TAG: "dict", "k": keys, "v": vals, "kind": type(v).__name__}
            if isinstance(v, collections.defaultdict):
                factory = getattr(v.default_factory, "__name__", None)
                out["factory"] = factory if factory in DEFAULT_FACTORIES else None
            return out
        if type(v) in (list, tuple) and len(v) > 16 and all(type(x) is int for x in v) and \
                all(-2**63 <= x < 2**63 for x in v):  # python's random state: 625 ints, one tensor
            return {TAG: "ints", "kind": type(v).__name__, "v": torch.tensor(v, dtype=torch.int64)}
        if isinstance(v, (list, tuple, set, frozenset)):
            items = list(v)
            if isinstance(v, (set, frozenset)):
                items.sort(key=repr)
            enc = [self._item(x, [*path, i]) for i, x in enumerate(items)]
            if type(v) is list:
                return enc
            return {TAG: "set" if isinstance(v, (set, frozenset)) else "tuple", "v": enc}
        if isinstance(v, np.ndarray):
            return {TAG: "ndarray", "dtype": str(v.dtype), "v": torch.from_numpy(np.array(v, dtype=np.float64
                                                                    if v.dtype.kind == "f" else np.int64))}
        if isinstance(v, nn.Module):
            return self._module(v, path)
        if isinstance(v, torch.optim.Optimizer):
            return {TAG: "optimizer", "state": self.encode(v.state_dict(), [*path, "state"])}
        if isinstance(v, torch.Generator):
            return {TAG: "generator", "device": str(v.device), "state": v.get_state()}
        if isinstance(v, np.random.RandomState):
            return {TAG: "randomstate", "state": self.encode(v.get_state(), [*path, "state"])}
        if isinstance(v, random.Random):
            return {TAG: "random", "state": self.encode(v.getstate(), [*path, "state"])}
        if is_dataset(v):
            return dataset_state(v, self)
        if is_template(v):
            return self.template(v, path)
        if hasattr(v, "state_dict") and hasattr(v, "load_state_dict"):  # LR schedulers and their kin
            return {TAG: "stateful", "state": self.encode(v.state_dict(), [*path, "state"])}
        if type(v).__module__.startswith(ALLOWED_PACKAGES) and hasattr(v, "__dict__"):
            return {TAG: "object", "cls": class_name(v), "attrs": self.attrs(v, path)}
        self.dropped.append(show_path(path))
        return DROP

    def _item(self, x: Any, path: list) -> Any:
        e = self.encode(x, path)
        return {TAG: "none"} if e is DROP or e is _SKIPPED else e

    def attrs(self, obj: Any, path: list, *, exclude: frozenset = frozenset()) -> dict:
        out = {}
        items = [(k, x) for k, x in vars(obj).items() if k not in exclude and id(x) not in self.skip_ids]
        # Modules first: later references to their parameters (an optimizer's map) resolve against them.
        items.sort(key=lambda kv: (not isinstance(kv[1], nn.Module), kv[0] != "model"))
        for k, x in items:
            e = self.encode(x, [*path, k])
            if e is not _SKIPPED and e is not DROP:  # a drop is listed in self.dropped by encode
                out[k] = e
        return out

    def template(self, strategy: Any, path: list) -> dict:
        """A strategy: its model and optimizer first, then its plugins (by position), then the rest."""
        plugins = [{TAG: "skip"} if id(p) in self.skip_ids else self._item(p, [*path, "plugins", i])
                   for i, p in enumerate(strategy.plugins)]
        state = {TAG: "template", "cls": class_name(strategy), "model": self.encode(strategy.model, [*path, "model"]),
                 "optimizer": self.encode(strategy.optimizer, [*path, "optimizer"]), "plugins": plugins,
                 "plugin_classes": [class_name(p) for p in strategy.plugins]}
        state["attrs"] = self.attrs(strategy, path, exclude=SKIP_ATTRS | {"model", "optimizer", "plugins"})
        return state

    def _module(self, m: nn.Module, path: list) -> dict:
        for name, sub in m.named_modules():
            if name:
                self.paths.setdefault(id(sub), [*path, "sub", name])
        frozen, state = {}, {}
        params = dict(m.named_parameters())
        for name, t in m.state_dict(keep_vars=True).items():
            if name in params and not params[name].requires_grad:
                frozen[name] = fingerprint(t)
            else:
                state[name] = t.detach().cpu().clone() if t.device.type != "cpu" else t.detach().clone()
        for kind, named in (("param", m.named_parameters()), ("buffer", m.named_buffers())):
            for name, t in named:
                self.paths.setdefault(id(t), [*path, kind, name])
                if t.numel() and t.untyped_storage().data_ptr():
                    self.storages.setdefault(t.untyped_storage().data_ptr(), ([*path], kind, name))
        attrs = []
        for _, sub in m.named_modules():
            attrs.append({k: _plain_encode(x) for k, x in vars(sub).items()
                          if not k.startswith("_") and k != "training" and _primitive(x)})
        return {TAG: "module", "cls": class_name(m), "state": state, "frozen": frozen,
                "train": [sub.training for sub in m.modules()],
                "grad": [p.requires_grad for _, p in m.named_parameters()], "attrs": attrs}

    def _tensor(self, t: torch.Tensor, path: list) -> Any:
        ptr = t.untyped_storage().data_ptr() if t.numel() else 0
        if ptr and ptr in self.storages:
            mpath, kind, name = self.storages[ptr]
            return {TAG: "view", "module": mpath, "kind": kind, "name": name, "size": list(t.shape),
                    "stride": list(t.stride()), "offset": t.storage_offset()}
        self.paths[id(t)] = path
        self._keep.append(t)
        data = t.detach()
        if data.device.type != "cpu" or data.untyped_storage().nbytes() > data.numel() * data.element_size():
            data = data.cpu().clone() if data.device.type != "cpu" else data.clone()  # never a whole storage
        if t.device.type == "cpu" and not isinstance(t, nn.Parameter) and not t.requires_grad:
            return data
        return {TAG: "tensor", "v": data, "device": t.device.type, "param": isinstance(t, nn.Parameter),
                "grad": t.requires_grad}


def show_path(path: list) -> str:
    return ".".join(str(p) for p in path)


# -- datasets ------------------------------------------------------------------------------------------------------
def dataset_state(ds: Any, enc: Encoder | None = None) -> dict:
    """An Avalanche dataset's samples (x, y) and data attributes (targets, task labels, DER's logits) as tensors."""
    from bench.train.fastpath import _resolve_flat

    if len(ds) == 0:
        return {TAG: "dataset", "empty": True}
    flat = ds._flat_data
    group = flat._transform_groups.current_group if flat._transform_groups is not None else "train"
    slots = _resolve_flat(flat, group, lambda t: t)
    if slots is None or len(slots) != 2:
        raise CheckpointError("a dataset in the strategy's state is not plain tensors: it cannot be checkpointed")
    attrs = []
    for name, attr in ds._data_attributes.items():
        values = list(attr.data)
        if values and isinstance(values[0], torch.Tensor):
            v: Any = torch.stack([x.detach().cpu() for x in values])
            kind = "tensor"
        else:
            v = torch.tensor([int(x) for x in values], dtype=torch.long)
            kind = "int"
        attrs.append({"name": name, "getitem": bool(attr.use_in_getitem), "kind": kind, "v": v})
    return {TAG: "dataset", "x": slots[0].detach().cpu(), "y": slots[1].detach().cpu(), "attrs": attrs,
            "group": group}


def dataset_from_state(state: dict) -> Any:
    """A tensor dataset giving the same items as the stored one (same order, same attributes in the same places).
    It is built the way the stream's own datasets are (bench/train/runner.py to_avalanche: one constant task label
    per piece), one piece per run of equal task labels, concatenated by Avalanche: its attributes then have the
    shapes Avalanche's own concatenations expect (a constant task-label sequence does not concatenate onto a list)."""
    from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset as make
    from avalanche.benchmarks.utils import concat_datasets, make_avalanche_dataset
    from avalanche.benchmarks.utils.data_attribute import DataAttribute, TensorDataAttribute
    from avalanche.benchmarks.utils.flat_data import FlatData

    if state.get("empty"):
        return concat_datasets([])
    by_name = {a["name"]: a for a in state["attrs"]}
    if "targets" not in by_name or "targets_task_labels" not in by_name:
        raise CheckpointError("a stored dataset lacks its targets or task labels")
    x, y, targets = state["x"], state["y"], by_name["targets"]["v"]
    tasks = by_name["targets_task_labels"]["v"]
    cuts = [0, *(torch.nonzero(tasks[1:] != tasks[:-1]).flatten() + 1).tolist(), len(tasks)]
    ds = None
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        piece = make(x[a:b], y[a:b], targets=targets[a:b], task_labels=int(tasks[a]))
        ds = piece if ds is None else ds.concat(piece)
    extra = []
    for a in state["attrs"]:
        if a["name"] in ("targets", "targets_task_labels"):
            continue
        if a["kind"] == "tensor":
            extra.append(TensorDataAttribute(FlatData([list(a["v"])], discard_elements_not_in_indices=True),
                                             name=a["name"], use_in_getitem=a["getitem"]))
        else:
            extra.append(DataAttribute(a["v"].tolist(), name=a["name"], use_in_getitem=a["getitem"]))
    if extra:
        ds = make_avalanche_dataset(ds, data_attributes=extra)
    return ds.eval() if state["group"] == "eval" else ds.train()


# -- decoding ----------------------------------------------------------------------------------------------------------
