"""The tests' writers of files in the real on-disk formats (tests/own_data.py), for the scripts that measure with
them. Loaded by path: the tests folder is not a package, and nothing is added to sys.path."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def tests_module(name: str) -> ModuleType:
    """tests/<name>.py as a module (loaded once)."""
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[1] / "tests" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
