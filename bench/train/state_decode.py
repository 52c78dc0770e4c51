"""Decoding a checkpoint's tree back *into* a freshly built run (the other half of bench/train/state_codec.py, whose
docstring describes the encoding): an object that exists there is updated in place (a module loads its state dict, a
plugin gets its attributes back), one that does not is made (an object of an allowed class without calling its
constructor, a module by copying a live module of the same class and loading the stored state)."""
from __future__ import annotations

import collections
import copy
import random
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.train.state_codec import (
    DEFAULT_FACTORIES,
    TAG,
    CheckpointError,
    allowed_class,
    class_name,
    dataset_from_state,
    fingerprint,
    show_path,
)


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
                raise CheckpointError("checkpoint holds the state of an optimizer or scheduler at "
                                      f"{show_path(path)!r}, "
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
        raise CheckpointError(f"checkpoint holds an unknown entry {tag!r} at {show_path(path)!r}")

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
        raise CheckpointError(f"checkpoint refers to {show_path(path)!r}, which it does not hold")

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
                raise CheckpointError(f"checkpoint holds a {e['cls']} at {show_path(path)!r}, "
                                      "and the run has no module "
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
            raise CheckpointError(f"checkpoint holds a {e['cls']} at {show_path(path)!r}, "
                                  f"the run a {class_name(current)}")
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
        raise CheckpointError(f"the module at {show_path(path)!r} has another structure than the checkpoint's")
    missing, unexpected = m.load_state_dict(e["state"], strict=False)
    if unexpected or set(missing) != set(e["frozen"]):
        raise CheckpointError(f"the module at {show_path(path)!r} does not fit the checkpoint "
                              f"(missing {sorted(set(missing) - set(e['frozen']))[:3]}, unexpected {unexpected[:3]})")
    live = m.state_dict(keep_vars=True)
    for name, fp in e["frozen"].items():
        if not torch.allclose(fingerprint(live[name]), fp, rtol=1e-9, atol=1e-9):
            raise CheckpointError(f"frozen parameter {name} of {show_path(path)!r} differs from the checkpoint's")
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
