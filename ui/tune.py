"""The Tune page: one search's protocol, budget and space, its trials in parallel coordinates and against each
setting, and its chosen setting with a button that launches it with N seeds as an ordinary comparison group."""
from __future__ import annotations

import uuid

import pandas as pd
import streamlit as st

from bench import launch
from bench.execute import jobs
from bench.execute.tune import background
from bench.execute.tune.outcome import summary
from bench.execute.tune.request import TuneRequest
from bench.plots import tune as charts
from bench.results import tunes as T
from bench.spec.status import ACTIVE, Status
from ui import forms
from ui.common import POLL_S, fmt_seconds, plain_error, pool_settings, show_chart

OUTCOME_WORDS = {"finished": "finished", "stopped_early": "stopped early (ASHA)", "running": "running",
                 "failed": "failed", "cancelled": "cancelled", "interrupted": "interrupted"}


def label(r) -> str:
    first = f" (first {int(r.first_experiences)})" if r.first_experiences else ""
    return (f"{r.strategy} · {r.benchmark}/{r.scenario} · {r.protocol}{first} · {r.algorithm} · {int(r.trials)} "
            f"trials · {r.status} · {r.tune_id}")


def page(s) -> None:
    st.title("Tune")
    background.reap(s)
    rows = T.tunes(s)
    if rows.empty:
        st.info("No search yet. Start one on the Launch page (5. Tune their settings) or from the command line: "
                "`python -m bench tune --benchmark split-digits --scenario class --strategy ewc --trials 8`.")
        return
    ids = list(rows.tune_id)
    wanted = st.query_params.get("tune")
    if wanted and wanted not in ids:
        st.warning(f"Ignored the unknown search id {wanted[:40]!r} from the link.")
        wanted = None
    st.session_state["tune.pick"] = wanted or ids[0]  # the URL names the search (on_change keeps it in step)
    labels = {r.tune_id: label(r) for r in rows.itertuples()}
    tune_id = st.selectbox("Search", ids, format_func=labels.get, key="tune.pick",
                           on_change=lambda: st.query_params.update(tune=st.session_state["tune.pick"]))
    if rows.status[rows.tune_id == tune_id].iloc[0] in ACTIVE:
        st.fragment(show, run_every=2 * POLL_S)(s, tune_id, live=True)
    else:
        show(s, tune_id, live=False)


def show(s, tune_id: str, *, live: bool) -> None:
    row = T.tune_row(s, tune_id)
    req = TuneRequest.from_json(row["spec_json"])
    result = summary(s, tune_id)
    if live and row["status"] not in ACTIVE:
        st.rerun()  # it just ended: draw the whole page once, without polling
    _header(s, row, req, result)
    trials = T.trials(s, tune_id)
    if trials.empty:
        st.caption("No trial has started yet.")
        return
    frame = pd.concat([trials, T.settings(trials)], axis=1)
    space = [d.to_dict() for d in req.space]
    best_trial = next((t["trial"] for t in result["trials"] if result["best"]
                       and t["run_id"] == result["best"]["run_id"]), None)
    if frame.objective.notna().any():
        title = "objective (val ACC)"
        st.caption("**Parallel coordinates**: one line per trial through one axis per searched setting and the "
                   "objective, each axis scaled to its range (its ends labelled), coloured by the objective; a grey "
                   "dashed line is a trial stopped early (its partial objective is on no axis).")
        show_chart(charts.parallel_coordinates(frame, space, objective_title=title), key=f"tune.pc.{tune_id}",
                   name=f"tune-{tune_id}-parallel", downloads=not live)
        st.caption("**The objective against each setting**; the chosen trial is ringed.")
        show_chart(charts.objective_by_setting(frame, space, objective_title=title, best_trial=best_trial),
                   key=f"tune.by.{tune_id}", name=f"tune-{tune_id}-settings", downloads=not live)
    _trials_table(frame, req)
    if result["best"]:
        _best(s, req, result)


def _header(s, row: dict, req: TuneRequest, result: dict) -> None:
    done = sum(t["outcome"] not in (None, "running") for t in result["trials"])
    st.markdown(f"**{req.strategy}** on {req.benchmark} / {req.scenario}-incremental · protocol **{req.protocol}** · "
                f"objective: **{req.objective}** (never a test number)")
    b = result["budget"]
    st.caption(f"Budget: {b['trials']} trials of {b['experiences_per_trial']} experiences, {b['algorithm']}, "
               f"{b['scheduler']}" + (f" (rungs after experiences {', '.join(map(str, b['asha_rungs']))})"
                                      if b["asha_rungs"] else "") + f"; seed {req.seed} for every trial; validation "
               f"split {req.run['val_fraction']:g} of each experience's training data."
               + (f" Wall time {fmt_seconds(result['wall_s'])}." if result["wall_s"] else ""))
    st.caption("Searched: " + "; ".join(f"`{k}` {v}" for k, v in result["space"].items()) + ". Fixed: "
               + (", ".join(f"{k}={v}" for k, v in result["fixed"].items()) or "the defaults") + ".")
    if row["status"] in ACTIVE:
        st.progress(done / max(req.trials, 1), text=f"{row['status']}: {done} of {req.trials} trials ended")
        if row["cancel_requested"]:
            st.caption("Cancelling…")
        elif st.button("Cancel the search", key=f"tune.cancel.{row['tune_id']}"):
            background.cancel(s, row["tune_id"])
            st.toast("Cancelling the search: its running trials stop within a few seconds.")
    elif row["status"] != Status.FINISHED:
        st.error(f"The search is {row['status']}: {plain_error(row['error']) or 'no reason recorded'}")


def _trials_table(frame: pd.DataFrame, req: TuneRequest) -> None:
    names = [d.name for d in req.space]
    table = frame[["trial", *names, "objective", "experiences", "outcome", "val_acc", "test_acc", "run_id"]].copy()
    table["outcome"] = table.outcome.map(lambda o: OUTCOME_WORDS.get(o, o))
    table["run_id"] = "run_detail?id=" + table.run_id.fillna("")
    st.dataframe(table.rename(columns={"objective": "objective (val)", "val_acc": "val ACC (run)",
                                       "test_acc": "test ACC (shown, never chosen on)", "run_id": "run"}),
                 hide_index=True, key="tune.trials", column_config={
                     "run": st.column_config.LinkColumn("run", display_text="open"),
                     "objective (val)": st.column_config.NumberColumn(format="%.3f"),
                     "val ACC (run)": st.column_config.NumberColumn(format="%.3f"),
                     "test ACC (shown, never chosen on)": st.column_config.NumberColumn(format="%.3f")})
    st.caption("Objective: what each trial reported to the search, its validation ACC over the experiences it had "
               "trained on (a trial stopped early by ASHA covers fewer, so it is never chosen and its run is "
               "cancelled, never averaged with finished runs).")


def _best(s, req: TuneRequest, result: dict) -> None:
    best = result["best"]
    st.subheader("Chosen setting")
    setting = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["setting"].items())
    n_done = sum(t["outcome"] == "finished" for t in result["trials"])
    st.markdown(f"**{setting}**: objective {best['objective']:.3f}, rank 1 on {req.objective} among the {n_done} "
                "finished trials.")
    if best.get("ties", 1) > 1:
        st.caption(f"{best['ties']} trials tie at the best objective; the earliest was chosen.")
    if best.get("at_edge"):
        st.warning(f"The chosen {', '.join(best['at_edge'])} lies at the edge of its searched range: the best may lie "
                   "beyond it. Widen the range and search again before trusting this choice.")
    if "test_acc" in best and best["test_acc"] is not None:
        st.caption(f"Test ACC of that trial (seed {req.seed}; reported, not chosen on): {best['test_acc']:.3f}.")
    final = result["final"]
    if final and final["n_finished"]:
        std = f" ± {final['test_acc_std']:.3f}" if final["test_acc_std"] is not None else ""
        st.markdown(f"Whole stream ({final['experiences']} experiences), seeds {', '.join(map(str, final['seeds']))}: "
                    f"test ACC **{final['test_acc']:.3f}{std}** (the number to report), validation ACC "
                    f"{final['val_acc']:.3f}.")
    _launch_best(s, req, best["setting"], key=result["tune_id"])


def _launch_best(s, req: TuneRequest, setting: dict, *, key: str) -> None:
    """The chosen setting on the whole stream with N seeds, queued like any Launch (one comparison group)."""
    seeds, err = forms.seeds_input(key=f"tune.seeds.{key}", default="1-3")
    st.caption(f"Seed {req.seed} is the trials' own: other seeds give a result that was not selected on.")
    plan = launch.plan([req.final_config(setting, seed) for seed in seeds], store=s) if not err else None
    n = len(plan.configs) if plan else 0
    for msg in plan.errors if plan else []:
        st.error(f"Cannot start: {msg}")
    if st.button(f"Launch best with {n} seed{'s' if n != 1 else ''}", type="primary", key=f"tune.launch.{key}",
                 disabled=not (plan and plan.ok)):
        st.session_state[f"tune.launched.{key}"] = jobs.submit(plan.configs, store=s, sweep_id=uuid.uuid4().hex[:12])
        jobs.ensure_pool(s, **pool_settings())
    launched = st.session_state.get(f"tune.launched.{key}")
    if launched:
        group = plan.configs[0].group_key() if plan and plan.configs else None
        st.success(f"Queued {len(launched)} runs of the chosen setting on the whole stream.")
        if group:
            st.page_link("pages/compare.py", label="Open them on Compare", query_params={"groups": group})
