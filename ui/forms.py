"""Widgets generated from the registries' ParamSpec lists; bad values show their BadInput message in place."""
from __future__ import annotations

import math

import streamlit as st

from bench.launch import MAX_RUNS
from bench.plugins import plugin_of, plugins
from bench.prompt.names import PRETRAIN_TIME, micro_cached
from bench.spec import sweeps
from bench.spec.params import BadInput, ParamSpec
from bench.strategies import FAMILIES, StrategySpec

FAMILY_TITLES = {"baselines": "Baselines", "rehearsal": "Rehearsal", "regularization": "Regularization",
                 "prompt": "Prompt-based", "architectural": "Architectural"}


def _help(spec: ParamSpec) -> str:
    return f"{spec.help} Allowed: {spec.allowed()}.".strip()


def param_input(spec: ParamSpec, *, key: str, owner: str, container=None):
    """One widget for one spec. Returns (value, error message or None); the error is shown under the field."""
    c = container or st
    k = f"{key}.{spec.name}"
    if spec.choices:
        raw = c.selectbox(spec.name, spec.choices, index=list(spec.choices).index(spec.default), key=k,
                          help=_help(spec))
    elif spec.type == "bool":
        raw = c.checkbox(spec.name, value=bool(spec.default), key=k, help=_help(spec))
    elif spec.type == "int":
        raw = c.number_input(spec.name, value=int(spec.default), step=1, key=k, help=_help(spec),
                             min_value=None if spec.min is None else int(spec.min),
                             max_value=None if spec.max is None else int(spec.max))
    else:  # floats are typed as text so that 1e-7 and 1e5 read as written; str params too
        raw = c.text_input(spec.name, value=repr(spec.default) if spec.type == "float" else str(spec.default),
                           key=k, help=_help(spec))
    try:
        return spec.parse(raw, where=f"{owner}."), None
    except BadInput as exc:
        c.error(str(exc))
        return spec.default, str(exc)


def param_inputs(specs: tuple[ParamSpec, ...], *, key: str, owner: str, columns: int = 2,
                 skip: tuple[str, ...] = ()) -> tuple[dict, list[str]]:
    """A form for a list of specs laid out in columns: (typed values, error messages)."""
    shown = [s for s in specs if s.name not in skip]
    values, errors = {}, []
    if not shown:
        return values, errors
    cols = st.columns(columns)
    for i, spec in enumerate(shown):
        values[spec.name], err = param_input(spec, key=key, owner=owner, container=cols[i % columns])
        if err:
            errors.append(err)
    return values, errors


def _as_text(value) -> str:
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


def sweep_inputs(specs: tuple[ParamSpec, ...], *, key: str, single_key: str, owner: str,
                 columns: int = 2) -> tuple[dict[str, list], list[str]]:
    """Like param_inputs, but numeric parameters are text fields taking lists and ranges (bench/sweeps.py):
    (name -> list of typed values, error messages). A field starts from the value its single-value widget
    (`single_key`) held, so turning the sweep on keeps what was typed."""
    values: dict[str, list] = {}
    errors: list[str] = []
    cols = st.columns(columns)
    for i, spec in enumerate(specs):
        c = cols[i % columns]
        if not sweeps.sweepable(spec):  # choices and flags: one value, the same widget as without a sweep
            value, err = param_input(spec, key=single_key, owner=owner, container=c)
            values[spec.name] = [value]
            errors += [err] if err else []
            continue
        start = st.session_state.get(f"{single_key}.{spec.name}", spec.default)
        raw = c.text_input(spec.name, value=_as_text(start), key=f"{key}.{spec.name}",
                           help=f"{spec.help} Allowed: {spec.allowed()}. {sweeps.HELP}".strip())
        try:
            values[spec.name] = sweeps.parse_values(spec, raw, where=f"{owner}.")
        except BadInput as exc:
            c.error(str(exc))
            errors.append(str(exc))
    return values, errors


def strategy_settings(spec: StrategySpec, *, key: str) -> tuple[list[dict], list[str]]:
    """A strategy's settings (inside its expander): one value per parameter, or with the "Sweep values" toggle
    lists and ranges for the numeric ones. Returns (the grid of parameter dicts, error messages)."""
    single_key = f"{key}.param.{spec.name}"
    if not any(sweeps.sweepable(p) for p in spec.params) or not st.toggle(
            "Sweep values", key=f"{key}.sweep.{spec.name}",
            help="Give lists or ranges instead of single values: one run per combination (and per seed)."):
        values, errors = param_inputs(spec.params, key=single_key, owner=spec.name)
        return [values], errors
    lists, errors = sweep_inputs(spec.params, key=f"{key}.sweep.{spec.name}", single_key=single_key,
                                 owner=spec.name)
    if errors:
        return [], errors
    size = math.prod(len(v) for v in lists.values())
    if size > MAX_RUNS:
        msg = f"{spec.name}: {size} combinations is too many: expected at most {MAX_RUNS}; narrow the sweep"
        st.error(msg)
        return [], [msg]
    return sweeps.grid(spec, lists), []


def count_line(n: int, n_strategies: int, n_seeds: int, grids: dict[str, list[dict]]) -> str:
    """'**12 runs will start**: 2 strategies × 2 seeds; replay sweeps 3 settings.' (markdown)."""
    def plural(k: int, one: str, many: str) -> str:
        return f"{k} {one if k == 1 else many}"

    line = (f"**{plural(n, 'run', 'runs')} will start**: {plural(n_strategies, 'strategy', 'strategies')} × "
            f"{plural(n_seeds, 'seed', 'seeds')}")
    swept = [f"{name} sweeps {len(g)} settings" for name, g in grids.items() if len(g) > 1]
    return line + ("; " + ", ".join(swept) if swept else "") + "."


def seeds_input(*, key: str, default: str = "0") -> tuple[list[int], str | None]:
    raw = st.text_input("Seeds", value=default, key=key,
                        help="One run per seed; results are averaged over seeds (mean ± std). "
                             "Examples: 0 · 0,1,2 · 0-4.")
    try:
        return sweeps.parse_seeds(raw), None
    except BadInput as exc:
        st.error(str(exc))
        return [], str(exc)


def strategy_picker(strategies: list[StrategySpec], *, scenario: str, key: str,
                    default: tuple[str, ...] = ()) -> list[StrategySpec]:
    """Checkboxes grouped by family; strategies that do not support `scenario` are greyed out with the reason."""
    chosen = []
    families = [f for f in FAMILIES if any(s.family == f for s in strategies)] + [
        f for f in FAMILIES if not any(s.family == f for s in strategies)]
    cols = st.columns(len(families))
    for col, family in zip(cols, families, strict=True):
        col.markdown(f"**{FAMILY_TITLES.get(family, family)}**")
        members = [s for s in strategies if s.family == family]
        if not members:
            col.caption("none registered yet")
        for s in members:
            origin = plugin_of("strategies", s.name)
            label = f"{s.name} (plugin)" if origin else s.name
            source = f" From the plugin {origin}." if origin else ""
            if scenario in s.scenarios:
                if col.checkbox(label, value=s.name in default, key=f"{key}.{s.name}",
                                help=s.description + (f" ({s.paper})" if s.paper else "") + source):
                    chosen.append(s)
            else:
                col.checkbox(label, value=False, disabled=True, key=f"{key}.{s.name}.off",
                             help=f"Not available in the {scenario}-incremental scenario: {s.name} supports "
                                  f"{', '.join(s.scenarios)}.{source}")
    return chosen


def plugin_notes() -> None:
    """The plugins in use, and one warning per plugin that failed to load (the form works without it)."""
    loaded = plugins()
    for p in loaded:
        if p.error:
            st.warning(f"Plugin {p.ref} ({p.source}) was not loaded: {p.error}")
    ok = [p.ref for p in loaded if not p.error]
    if ok:
        st.caption(f"Plugins: {', '.join(ok)} (marked 'plugin' below; `python -m bench list plugins` lists them).")


def backbone_advice(grids: dict[str, list[dict]], *, cuda: bool) -> str | None:
    """A word on the prompt methods' ViT: timm ViTs want a GPU; micro-vit is pretrained once on first use."""
    chosen = {p.get("backbone") for grid in grids.values() for p in grid} - {None}
    if any(b.startswith("timm:") for b in chosen) and not cuda:
        return ("A timm ViT sees every image at 224x224: a GPU is recommended (none here), so expect minutes per "
                "experience on this CPU. micro-vit runs fine on a CPU.")
    waiting = sorted(b for b in chosen if not micro_cached(b))
    if waiting:
        return (f"{waiting[0]} is not pretrained on this machine yet: the first run pretrains it "
                f"({PRETRAIN_TIME.get(waiting[0], 'a minute or two')} on one core) and caches it for every later run.")
    return None
