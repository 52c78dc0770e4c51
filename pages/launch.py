"""Launch: pick a stream, a scenario, strategies and their settings; queue the runs for the background workers."""
import uuid

import streamlit as st

from bench import launch
from bench.execute import jobs
from bench.results import queries as q
from bench.spec.config import RUN_PARAMS
from ui import forms, own_data, tune_form, validation
from ui.common import engine, pool_settings, share_url, store

SCENARIOS = {"class": "class-incremental", "task": "task-incremental", "domain": "domain-incremental"}
SCENARIO_HELP = ("task: the experience is known at test time (one head each); domain: one shared head, "
                 "experience unknown; class: one head over every class seen so far.")

s = store()
eng = engine()
benches = {b.name: b for b in eng["benchmarks"]}
run_specs = {p.name: p for p in RUN_PARAMS}
errors: list[str] = []

st.title("Launch runs")
forms.plugin_notes()
st.subheader("1. Task stream and scenario")
left, right = st.columns(2)
bname = left.selectbox("Task stream", list(benches), key="launch.benchmark",
                       help="Streams marked offline ship with the installed packages.")
bench = benches[bname]
left.caption(bench.description + ("" if bench.offline else " Needs its data files (see Data folder)."))
scenario = right.selectbox("Scenario", bench.scenarios, format_func=SCENARIOS.get, key="launch.scenario",
                           help=SCENARIO_HELP)
bparams, errs = forms.param_inputs(bench.params, key=f"launch.bench.{bname}", owner=bname)
errors += errs
shown = None if errs else own_data.preview(bname, bparams)  # own data: classes, experiences, samples
data_dir = None
if not bench.offline:
    data_dir = st.text_input("Data folder", value="", key="launch.data_dir",
                             help="Folder holding the dataset files (no download happens without internet).") or None

st.subheader("2. Strategies")
st.caption(f"Strategies that do not support the {SCENARIOS[scenario]} scenario are greyed out (hover for why).")
picked = forms.strategy_picker(eng["strategies"], scenario=scenario, key="launch.strategy",
                               default=("naive", "replay"))
grids: dict[str, list[dict]] = {}  # strategy -> its parameter settings (one, or a sweep's grid)
for spec in picked:
    if not spec.params:
        continue
    with st.expander(f"{spec.name} settings"):
        st.caption(spec.description + (f" Paper: {spec.paper}." if spec.paper else ""))
        grids[spec.name], errs = forms.strategy_settings(spec, key="launch")
        errors += errs

if advice := forms.backbone_advice(grids, cuda=eng["cuda"]):
    st.warning(advice)

st.subheader("3. Seeds, epochs and device")
c1, c2, c3 = st.columns(3)
with c1:
    seeds, err = forms.seeds_input(key="launch.seeds")
with c2:
    epochs, err2 = forms.param_input(run_specs["epochs"], key="launch.run", owner="run")
with c3:
    device, err3 = forms.param_input(run_specs["device"], key="launch.run", owner="run")
    if device == "cuda" and not eng["cuda"]:
        err3 = "device='cuda' is not available on this machine: use auto or cpu"
        st.error(err3)
errors += [e for e in (err, err2, err3) if e]
with st.expander("Advanced: batch size, learning rate, optimizer, evaluation density, validation split"):
    advanced, errs = forms.param_inputs(RUN_PARAMS, key="launch.run", owner="run", columns=4,
                                        skip=("seed", "epochs", "device"))
    errors += errs
if advice := validation.launch_advice(grids, val_fraction=advanced.get("val_fraction", 0.0)):
    getattr(st, advice[0])(advice[1])

configs = launch.product(benchmark=bname, scenario=scenario, benchmark_params=bparams, data_dir=data_dir,
                         grids={spec.name: grids.get(spec.name, [{}]) for spec in picked}, seeds=seeds,
                         run={"epochs": epochs, "device": device, **advanced})
plan = launch.plan(configs, store=s) if not errors else launch.LaunchPlan(configs=[], errors=[], existing=0)
for msg in plan.errors:
    if msg != shown:  # the preview showed this one already
        st.error(f"Cannot start: {msg}")

st.subheader("4. Start")
n = len(plan.configs) or len(configs)
st.markdown(forms.count_line(n, len(picked), len(seeds), grids))
if plan.existing:
    st.caption(f"{plan.existing} of these runs already exist in your store with the same configuration; starting "
               "runs them again (as extra runs of the same groups).")
if not picked:
    st.caption("Pick at least one strategy.")
elif errors:
    st.caption("Fix the fields marked in red first.")
if st.button(f"Start {n} runs", type="primary", key="launch.start", disabled=not plan.ok or bool(errors)):
    st.session_state["launch.last"] = jobs.submit(plan.configs, store=s, sweep_id=uuid.uuid4().hex[:12])
    jobs.ensure_pool(s, **pool_settings())  # the sidebar's settings, when no pool is running yet
last = st.session_state.get("launch.last")
if last:
    sel = q.resolve_selection(s, group_ids=[], run_ids=last)[0]
    st.success(f"Queued {len(last)} runs. They train in background processes: you can switch pages or close "
               "the tab.")
    query = {"groups": ",".join(dict.fromkeys(sel.group_id))}
    a, b = st.columns(2)
    a.page_link("pages/runs.py", label="Watch them on the Runs page")
    b.page_link("pages/compare.py", label="Open their comparison", query_params=query)
    link = share_url(query)
    if link:
        st.markdown(f"Link to share or bookmark this comparison: [{link}]({link})")

tune_form.section(s, benchmark=bname, scenario=scenario, bparams=bparams, picked=picked, grids=grids, data_dir=data_dir,
                  run={"epochs": epochs, "device": device, **advanced}, blocked=bool(errors))
