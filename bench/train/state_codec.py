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

Decoding restores *into* a freshly built run: an object that exists there is updated in place (a module loads its
state dict, a plugin gets its attributes back), one that does not (a buffer group created during training, LwF's
previous model) is made: an object of an allowed class without calling its constructor, a module by copying a live
module of the same class and loading the stored state.
"""
from __future__ import annotations

import collections
import copy
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


def _fingerprint(t: torch.Tensor) -> torch.Tensor:
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
                    self.dropped.append(_show([*path, k]))
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
        self.dropped.append(_show(path))
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
                frozen[name] = _fingerprint(t)
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


def _show(path: list) -> str:
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
class Decoder:
    """Restores an encoded tree into a live graph; `device` is where tensors stored from a GPU go back to."""

    def __init__(self, *, device: torch.device, skip: tuple = ()) -> None:
        self.device = torch.device(device)
        self.skip_ids = {id(o) for o in skip}
        self.objects: dict[tuple, Any] = {}  # path -> decoded object, for references
        self.modules: list[nn.Module] = []  # live modules met so far: templates for ones that must be made

    def decode(self, e: Any, current: Any, path: list) -> Any:
        if e is None or type(e) in (bool, int, float, str):
            return e
        if isinstance(e, torch.Tensor):
            out = e
        elif isinstance(e, list):
            cur = current if isinstance(current, list) and len(current) == len(e) else [None] * len(e)
            out = [self.decode(x, c, [*path, i]) for i, (x, c) in enumerate(zip(e, cur, strict=True))]
        else:
            out = self._tagged(e, current, path)
        self.objects[tuple(path)] = out
        return out

    def _tagged(self, e: dict, current: Any, path: list) -> Any:
        tag = e.get(TAG)
        if tag == "none" or tag == "skip":
            return current if tag == "skip" else None
        if tag == "ref":
            return self._ref(e["path"])
        if tag == "device":
            return torch.device(e["v"])
        if tag == "dtype":
            return getattr(torch, e["v"])
        if tag == "tensor":
            t = e["v"].to(self.device) if e["device"] != "cpu" else e["v"]
            return nn.Parameter(t, requires_grad=e["grad"]) if e["param"] else t.requires_grad_(e["grad"])
        if tag == "view":
            base = self._module_at(e["module"])
            t = base.get_parameter(e["name"]) if e["kind"] == "param" else base.get_buffer(e["name"])
            return t.detach().as_strided(e["size"], e["stride"], e["offset"])
        if tag == "dict":
            return self._dict(e, current, path)
        if tag == "ints":
            return tuple(e["v"].tolist()) if e["kind"] == "tuple" else e["v"].tolist()
        if tag in ("tuple", "set"):
            items = [self.decode(x, None, [*path, i]) for i, x in enumerate(e["v"])]
            return tuple(items) if tag == "tuple" else set(items)
        if tag == "ndarray":
            return e["v"].numpy().astype(e["dtype"])
        if tag == "module":
            return self._module(e, current, path)
        if tag in ("optimizer", "stateful"):
            if current is None or not hasattr(current, "load_state_dict"):
                raise CheckpointError(f"checkpoint holds the state of an optimizer or scheduler at {_show(path)!r}, "
                                      "which the run being restored does not have")
            current.load_state_dict(self.decode(e["state"], None, [*path, "state"]))
            return current
        if tag == "generator":
            gen = current if isinstance(current, torch.Generator) else torch.Generator(device=self._dev(e["device"]))
            gen.set_state(e["state"])
            return gen
        if tag == "randomstate":
            rs = current if isinstance(current, np.random.RandomState) else np.random.RandomState()
            rs.set_state(self.decode(e["state"], None, [*path, "state"]))
            return rs
        if tag == "random":
            r = current if isinstance(current, random.Random) else random.Random()
            r.setstate(self.decode(e["state"], None, [*path, "state"]))
            return r
        if tag == "dataset":
            return dataset_from_state(e)
        if tag == "template":
            return self.template(e, current, path)
        if tag == "object":
            return self._object(e, current, path)
        raise CheckpointError(f"checkpoint holds an unknown entry {tag!r} at {_show(path)!r}")

    def _dev(self, device: str) -> torch.device:
        return self.device if torch.device(device).type != "cpu" else torch.device("cpu")

    def _ref(self, path: list) -> Any:
        key = tuple(path)
        if key in self.objects:
            return self.objects[key]
        for cut in range(len(path) - 1, 0, -1):  # a parameter, buffer or submodule of a module decoded earlier
            owner = self.objects.get(tuple(path[:cut]))
            if isinstance(owner, nn.Module) and path[cut] in ("param", "buffer", "sub"):
                name = ".".join(str(p) for p in path[cut + 1:])
                return {"param": owner.get_parameter, "buffer": owner.get_buffer, "sub": owner.get_submodule}[
                    path[cut]](name)
        raise CheckpointError(f"checkpoint refers to {_show(path)!r}, which it does not hold")

    def _module_at(self, path: list) -> nn.Module:
        m = self.objects.get(tuple(path))
        if not isinstance(m, nn.Module):
            m = self._ref(path)
        return m

    def _dict(self, e: dict, current: Any, path: list) -> dict:
        keys = [self.decode(k, None, [*path, "key"]) for k in e["k"]]
        if isinstance(current, dict):
            out = type(current)(current.default_factory) if isinstance(current, collections.defaultdict) \
                else type(current)()
        elif e.get("kind") == "defaultdict":
            out = collections.defaultdict(DEFAULT_FACTORIES.get(e.get("factory")))
        elif e.get("kind") == "OrderedDict":
            out = collections.OrderedDict()
        else:
            out = {}
        for k, v in zip(keys, e["v"], strict=True):
            cur = current.get(k) if isinstance(current, dict) else None
            out[k] = self.decode(v, cur, [*path, k])
        return out

    def _module(self, e: dict, current: Any, path: list) -> nn.Module:
        if current is not None and class_name(current) == e["cls"]:
            m = current
        else:
            template = next((x for x in self.modules if class_name(x) == e["cls"]), None)
            if template is None:
                raise CheckpointError(f"checkpoint holds a {e['cls']} at {_show(path)!r}, and the run has no module "
                                      "of that class to rebuild it from")
            m = copy.deepcopy(template)
        load_module(m, e, path)
        self.objects[tuple(path)] = m
        self.modules.append(m)
        return m

    def _object(self, e: dict, current: Any, path: list) -> Any:
        if current is not None and class_name(current) == e["cls"]:
            obj = current
        elif current is None:
            cls = allowed_class(e["cls"])
            obj = cls.__new__(cls)
        else:
            raise CheckpointError(f"checkpoint holds a {e['cls']} at {_show(path)!r}, the run a {class_name(current)}")
        self.objects[tuple(path)] = obj
        self.restore_attrs(obj, e["attrs"], path)
        return obj

    def restore_attrs(self, obj: Any, attrs: dict, path: list) -> None:
        for k, v in attrs.items():
            cur = getattr(obj, k, None)
            if id(cur) in self.skip_ids:
                continue
            new = self.decode(v, cur, [*path, k])
            if new is not cur:
                setattr(obj, k, new)

    def template(self, e: dict, strategy: Any, path: list) -> Any:
        if strategy is None or class_name(strategy) != e["cls"]:
            raise CheckpointError(f"checkpoint is of a {e['cls']}, the run builds a "
                                  f"{class_name(strategy) if strategy is not None else 'nothing'}")
        if [class_name(p) for p in strategy.plugins] != e["plugin_classes"]:
            raise CheckpointError("checkpoint's plugins differ from the run's: " + ", ".join(e["plugin_classes"]))
        self.objects[tuple(path)] = strategy
        model = self.decode(e["model"], strategy.model, [*path, "model"])
        if model is not strategy.model:
            strategy.model = model
        self.decode(e["optimizer"], strategy.optimizer, [*path, "optimizer"])
        for i, (pe, plugin) in enumerate(zip(e["plugins"], strategy.plugins, strict=True)):
            if id(plugin) not in self.skip_ids:
                self.decode(pe, plugin, [*path, "plugins", i])
        self.restore_attrs(strategy, e["attrs"], path)
        return strategy


def load_module(m: nn.Module, e: dict, path: list) -> None:
    """Load an encoded module into `m` (same class): its state dict, frozen parameters checked against their
    fingerprints, train/eval flags, requires_grad and plain attributes."""
    subs = list(m.modules())
    params = list(m.named_parameters())
    if len(subs) != len(e["train"]) or len(params) != len(e["grad"]):
        raise CheckpointError(f"the module at {_show(path)!r} has another structure than the checkpoint's")
    missing, unexpected = m.load_state_dict(e["state"], strict=False)
    if unexpected or set(missing) != set(e["frozen"]):
        raise CheckpointError(f"the module at {_show(path)!r} does not fit the checkpoint "
                              f"(missing {sorted(set(missing) - set(e['frozen']))[:3]}, unexpected {unexpected[:3]})")
    live = m.state_dict(keep_vars=True)
    for name, fp in e["frozen"].items():
        if not torch.allclose(_fingerprint(live[name]), fp, rtol=1e-9, atol=1e-9):
            raise CheckpointError(f"frozen parameter {name} of {_show(path)!r} differs from the checkpoint's")
    for sub, flag, attrs in zip(subs, e["train"], e["attrs"], strict=True):
        sub.training = flag
        for k, v in attrs.items():
            setattr(sub, k, _plain_value(v))
    for (_, p), flag in zip(params, e["grad"], strict=True):
        p.requires_grad_(flag)


def _plain_value(v: Any) -> Any:
    if isinstance(v, dict) and v.get(TAG) in ("tuple", "set"):
        items = [_plain_value(x) for x in v["v"]]
        return tuple(items) if v[TAG] == "tuple" else set(items)
    return v
