"""The protocol presets: one record per published result (method, stream, recipe, value, source), read from the
JSON files in presets/ (one per source) and checked on load.

A file holds the fields every record of that source shares under "defaults" (the source's repository and commit,
the unit of its numbers, its tolerance); each record overrides or adds to them. Records are data: which of them the
bench can run is computed from the registries (bench/reproduce/mapping.py), never written here."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources

from bench.spec.params import BadInput

UNITS = {"percent": 100.0, "fraction": 1.0}  # how many reference units one unit of the bench's ACC (a fraction) is
DEFAULT_TOLERANCE_POINTS = 3.0  # percentage points, when a reference gives no spread and its source no tolerance
_RECORD_FIELDS = ("id", "title", "method", "stream", "scenario", "backbone", "epochs", "batch_size", "optimizer",
                  "schedule", "augmentation", "buffer", "metric", "reference", "source", "bench")
_SOURCE_FIELDS = ("repository", "path", "commit", "date_read")  # or paper + table instead of repository/path/commit
_BENCH_FIELDS = ("strategy", "benchmark", "params", "benchmark_params", "run")


@dataclass(frozen=True, kw_only=True)
class Preset:
    """One published result and the recipe behind it. `bench` says how it maps onto a bench run: strategy, params,
    benchmark, benchmark_params, run (settings the reference needs), run_if_present (settings whose value is already
    the bench's behaviour when the setting does not exist, e.g. momentum 0), why (what a missing piece is)."""

    id: str
    title: str
    method: str
    stream: str
    scenario: str
    backbone: str
    epochs: int
    batch_size: int
    optimizer: str
    schedule: str
    augmentation: str
    buffer: int | None
    metric: str
    reference: dict
    source: dict
    bench: dict
    deviations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return self.reference["unit"]

    @property
    def value(self) -> float:
        return float(self.reference["value"])

    @property
    def tolerance(self) -> float:
        """Half-width of the band, in the reference's units, inside which the bench's mean counts as reproduced:
        the reference's spread where it gives one, else the source's own tolerance, else 3 points."""
        ref = self.reference
        if ref.get("spread") is not None:
            return float(ref["spread"])
        if ref.get("tolerance") is not None:
            return float(ref["tolerance"])
        return DEFAULT_TOLERANCE_POINTS * UNITS[self.unit] / 100.0

    @property
    def tolerance_basis(self) -> str:
        ref = self.reference
        if ref.get("spread") is not None:
            return "the reference's own spread"
        return ref.get("tolerance_basis") or "no spread given: ±3 points"

    def in_reference_units(self, acc: float) -> float:
        """The bench's ACC (a fraction) in the reference's units."""
        return float(acc) * UNITS[self.unit]

    def as_fraction(self) -> float:
        return self.value / UNITS[self.unit]

    def delta(self, acc_mean: float) -> float:
        """The bench's mean minus the published value, in the reference's units."""
        return self.in_reference_units(acc_mean) - self.value

    def verdict(self, acc_mean: float | None) -> tuple[str, float | None]:
        """(status, delta): 'not run', 'within ±tol' of the published value, or 'off by ±x' (in its units)."""
        if acc_mean is None or acc_mean != acc_mean:
            return "not run", None
        delta = self.delta(acc_mean)
        fmt = self.format_number
        if abs(delta) <= self.tolerance + 1e-9:
            return f"within ±{fmt(self.tolerance)}", delta
        return f"off by {'+' if delta > 0 else '-'}{fmt(abs(delta))}", delta

    def format_number(self, x: float) -> str:
        """A number in the reference's units: 2 decimals and % for percentages, 3 decimals for fractions."""
        return f"{x:.2f} %" if self.unit == "percent" else f"{x:.3f}"

    def source_label(self) -> str:
        """Short citation: repository + path @ commit, or paper + table."""
        s = self.source
        if s.get("repository"):
            return f"{s['repository']} {s['path']} @ {s['commit'][:7]}"
        return f"{s['paper']}, {s['table']}"

    def format_value(self) -> str:
        unit = " %" if self.unit == "percent" else ""
        spread = self.reference.get("spread")
        return f"{self.value:g}{unit}" if spread is None else f"{self.value:g} ± {spread:g}{unit}"

    def to_dict(self) -> dict:
        return {
            "id": self.id, "title": self.title, "method": self.method, "stream": self.stream,
            "scenario": self.scenario, "backbone": self.backbone, "epochs": self.epochs,
            "batch_size": self.batch_size, "optimizer": self.optimizer, "schedule": self.schedule,
            "augmentation": self.augmentation, "buffer": self.buffer, "metric": self.metric,
            "reference": {**self.reference, "tolerance": self.tolerance, "tolerance_basis": self.tolerance_basis},
            "source": dict(self.source), "notes": list(self.notes), "deviations": list(self.deviations),
            "bench": self.bench,
        }


def _merge(defaults: dict, record: dict) -> dict:
    out = {**defaults, **record}
    for key in ("reference", "source", "why"):  # nested: a record adds to its file's defaults
        out[key] = {**defaults.get(key, {}), **record.get(key, {})}
    for key in ("deviations", "notes"):  # lists: the file's shared lines, then the record's own
        out[key] = [*defaults.get(key, ()), *record.get(key, ())]
    out["bench"] = {**record.get("bench", {}), "why": {**out.pop("why"), **record.get("bench", {}).get("why", {})}}
    return out


def parse_record(raw: dict, *, where: str) -> Preset:
    """One record as a Preset, or ValueError naming the file, the record and the field at fault."""
    name = f"{where}: {raw.get('id', '?')}"
    missing = [k for k in _RECORD_FIELDS if k not in raw]
    if missing:
        raise ValueError(f"{name} lacks {', '.join(missing)}")
    src = raw["source"]
    if not (all(src.get(k) for k in _SOURCE_FIELDS) or (src.get("paper") and src.get("table")
                                                         and src.get("date_read"))):
        raise ValueError(f"{name}: source needs repository, path, commit and date_read (or paper, table, date_read)")
    if src.get("commit") and len(src["commit"]) != 40:
        raise ValueError(f"{name}: source commit {src['commit']!r} is not a full 40-digit hash")
    ref = raw["reference"]
    if ref.get("unit") not in UNITS or not isinstance(ref.get("value"), (int, float)):
        raise ValueError(f"{name}: reference needs a numeric value and a unit in {', '.join(UNITS)}")
    bench = raw["bench"]
    if any(k not in bench for k in _BENCH_FIELDS):
        raise ValueError(f"{name}: bench needs {', '.join(_BENCH_FIELDS)}")
    if raw["scenario"] not in ("class", "task", "domain"):
        raise ValueError(f"{name}: scenario {raw['scenario']!r} is not class, task or domain")
    known = set(Preset.__dataclass_fields__)
    extra = {k: v for k, v in raw.items() if k not in known}
    kw = {k: v for k, v in raw.items() if k in known and k != "extra"}
    kw["deviations"], kw["notes"] = tuple(raw.get("deviations", ())), tuple(raw.get("notes", ()))
    return Preset(**kw, extra=extra)


@functools.lru_cache(maxsize=1)
def _load() -> tuple[Preset, ...]:
    out: list[Preset] = []
    folder = resources.files("bench.reproduce") / "presets"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        data = json.loads(entry.read_text(encoding="utf-8"))
        for raw in data["presets"]:
            out.append(parse_record(_merge(data.get("defaults", {}), raw), where=entry.name))
    ids = [p.id for p in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"preset ids are not unique: {', '.join(dupes)}")
    return tuple(out)


def presets() -> list[Preset]:
    """Every preset, in file order (one file per source)."""
    return list(_load())


def get_preset(name: str) -> Preset:
    for p in _load():
        if p.id == name:
            return p
    raise BadInput(f"unknown preset {name!r}: see python -m bench reproduce --list")
