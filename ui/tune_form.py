"""The Launch page's Tune section: search the settings of the strategies picked above on Ray Tune, each on the same
budget and protocol, in a background process; the Tune page then shows each search."""
from __future__ import annotations

import streamlit as st

from bench.execute.tune import background
from bench.execute.tune.request import ALGORITHMS, DEFAULT_TRIALS, PROTOCOLS, SCHEDULERS, make_request
from bench.execute.tune.space import default_names, domain_for, searchable
from bench.spec import sweeps
from bench.spec.config import RUN_PARAMS
from bench.spec.params import BadInput
from ui.common import pool_settings

PROTOCOL_HELP = ("validation: every trial trains on the whole stream and is scored on its validation split. "
                 "first-experiences (FACIL's realistic protocol): trials train on the first K experiences only, "
                 "then the chosen setting runs on the whole stream and its test ACC is reported apart.")
SPACE_HELP = ("Empty: the registry's range (log-scaled numbers one decade either side of the default). Or the sweep "
              "grammar: a:b uniform, log a b n log-uniform, a list or a:b:step a choice among those values.")


def _changed(values: dict, specs) -> dict:
    """The settings the form holds away from their defaults: what the user fixed for every trial."""
    return {s.name: values[s.name] for s in specs if s.name in values and values[s.name] != s.default}


def section(s, *, benchmark: str, scenario: str, bparams: dict, picked: list, grids: dict, run: dict,
            data_dir: str | None, blocked: bool) -> None:
    """Tune the picked strategies. `grids` and `run` are the form's values above (a changed value is fixed for every
    trial, the rest may be searched); `blocked`: the form above has errors."""
    st.subheader("5. Or tune their settings")
    with st.expander("Tune: search each picked strategy's settings on Ray Tune, on the same budget"):
        st.caption("Settings are chosen on validation data held out of each experience's training data "
                   "(val_fraction under Advanced; 0.1 when it is 0), never on the test sets. Every trial is an "
                   "ordinary run on the Runs page; the Tune page shows the search.")
        if not st.toggle("Tune the strategies picked above", key="tune.on"):
            return  # nothing is checked (nor shown) for a section the user is not using
        c1, c2, c3, c4 = st.columns(4)
        protocol = c1.selectbox("Protocol", list(PROTOCOLS), key="tune.protocol", help=PROTOCOL_HELP)
        first = c1.number_input("Tune on the first K experiences", min_value=1, value=2, step=1, key="tune.first",
                                disabled=protocol != "first-experiences")
        algorithm = c2.selectbox("Search", list(ALGORITHMS), format_func=ALGORITHMS.get, key="tune.algorithm")
        trials = c3.number_input("Trials per strategy", min_value=1, max_value=500, value=DEFAULT_TRIALS, step=1,
                                 key="tune.trials", disabled=algorithm == "grid",
                                 help="The grid runs every combination of the values given below.")
        scheduler = c4.selectbox("Early stopping", list(SCHEDULERS), format_func=SCHEDULERS.get, key="tune.scheduler")
        fixed_run = {k: v for k, v in _changed(run, RUN_PARAMS).items() if k != "seed"}
        if run.get("val_fraction", 0) <= 0:
            fixed_run.pop("val_fraction", None)
        requests, errors = [], []
        for spec in picked:
            params = grids.get(spec.name, [{}])
            if len(params) != 1:
                errors.append(f"{spec.name}: turn off 'Sweep values' to tune it (the search picks its values)")
                continue
            fixed = _changed(params[0], spec.params)
            texts = _space_inputs(spec, fixed=set(fixed) | set(fixed_run), grid=algorithm == "grid")
            if not texts:
                errors.append(f"{spec.name}: pick at least one setting to search")
                continue
            try:
                requests.append(make_request(
                    benchmark=benchmark, scenario=scenario, strategy=spec.name, search=texts, protocol=protocol,
                    first=int(first) if protocol == "first-experiences" else None, algorithm=algorithm,
                    scheduler=scheduler, trials=None if algorithm == "grid" else int(trials), benchmark_params=bparams,
                    params=fixed, run=fixed_run, data_dir=data_dir))
            except BadInput as exc:
                errors.append(f"{spec.name}: {exc}")
        for msg in errors:
            st.error(f"Cannot tune: {msg}")
        n = len(requests)
        ok = n and not errors and not blocked
        if st.button(f"Start {n} search{'es' if n != 1 else ''}", key="tune.start", disabled=not ok):
            settings = pool_settings()
            ids = background.queue(s, requests, address=settings["ray_address"], workers=settings["workers"])
            st.session_state["tune.started"] = ids
        started = st.session_state.get("tune.started")
        if started:
            st.success(f"Started {len(started)} search{'es' if len(started) != 1 else ''} in the background.")
            st.page_link("pages/tune.py", label="Watch it on the Tune page", query_params={"tune": started[0]})


def _space_inputs(spec, *, fixed: set[str], grid: bool) -> dict[str, str | None]:
    """A multiselect of the strategy's searchable settings (the default ones picked) and a text per chosen one."""
    names = sorted(searchable(spec))
    default = [n for n in default_names(spec, fixed) if n in names]
    chosen = st.multiselect(f"{spec.name}: settings to search", names, default=default, key=f"tune.space.{spec.name}",
                            help="The learning rate and the strategy's log-scaled parameters by default (never "
                                 "buffer sizes: a larger buffer always wins). Settings you changed above are fixed.")
    texts: dict[str, str | None] = {}
    cols = st.columns(max(1, min(4, len(chosen))))
    for i, name in enumerate(chosen):
        raw = cols[i % len(cols)].text_input(name, value="", key=f"tune.text.{spec.name}.{name}",
                                             placeholder="registry range", help=f"{SPACE_HELP} {sweeps.HELP}")
        texts[name] = raw.strip() or None
        try:
            cols[i % len(cols)].caption(domain_for(spec, name, texts[name], grid=grid).describe())
        except BadInput:
            pass  # make_request reports it, in one line
    return texts
