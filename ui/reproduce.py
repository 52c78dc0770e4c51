"""Published results beside the bench's: the Reproduce page's table, a preset's recipe and start form, and the
published value on Compare (a table column and a marker on an ACC chart)."""
from __future__ import annotations

import json
import os

import pandas as pd
import streamlit as st

from bench.plots.reference import acc_reference_chart
from bench.reproduce import estimate
from bench.reproduce.mapping import missing, to_config
from bench.reproduce.presets import Preset, presets
from bench.results import queries as q
from bench.results import references as refs
from bench.results.store import Store
from ui.common import show_chart

TOLERANCE_NOTE = ("Status: within tolerance when |Δ| (the bench's mean minus the published value, in the reference's "
                  "units) is at most the reference's own spread; where it gives none, the tolerance its source's test "
                  "uses (continual-learning-baselines: the test's delta, mostly 0.03), else ±3 points. "
                  "--quick runs never count.")


def _bench_text(p: Preset, row) -> str:
    if not row.n:
        return "not run"
    mean = p.format_number(p.in_reference_units(row["mean"]))
    std = "" if row["std"] is None or pd.isna(row["std"]) else f" ± {p.format_number(p.in_reference_units(row['std']))}"
    return f"{mean}{std} ({row.n} seed{'s' if row.n != 1 else ''})"


def table(s: Store) -> pd.DataFrame:
    """One row per preset: what it is, the published value and its source, the bench's latest result, Δ, status and
    what the bench lacks to run it (from the registries, without reading any dataset)."""
    ps = presets()
    results = refs.preset_results(s, ps).set_index("preset_id")
    rows = []
    for p in ps:
        r = results.loc[p.id]
        lacking = missing(p)
        status, delta = p.verdict(r["mean"] if r.n else None)
        if lacking:
            status = "cannot run yet"
        rows.append({"Preset": p.id, "Published": p.format_value(), "Bench (mean ± std)": _bench_text(p, r),
                     "Δ": "" if delta is None else f"{delta:+.2f}" if p.unit == "percent" else f"{delta:+.3f}",
                     "Status": status, "Method": p.method.split(":")[0], "Stream": p.stream.split(":")[0],
                     "Scenario": p.scenario, "Backbone": p.backbone.split(" (")[0], "Source": p.source_label(),
                     "Tolerance": f"±{p.format_number(p.tolerance)}", "Missing on this bench": "; ".join(lacking)})
    return pd.DataFrame(rows)


def overview(s: Store) -> None:
    df = table(s)
    runnable = int((df["Missing on this bench"] == "").sum())
    st.caption(f"{len(df)} presets, {runnable} of which this bench can run now; the others list what it lacks "
               "(computed from its registries, so they become runnable when those pieces land).")
    st.dataframe(df, hide_index=True, height="content", key="reproduce.table")
    st.caption(TOLERANCE_NOTE)


def _source_link(p: Preset) -> str:
    src = p.source
    if src.get("repository"):
        url = f"https://github.com/{src['repository']}/blob/{src['commit']}/{src['path']}"
        return f"[{src['repository']} `{src['path']}` @ {src['commit'][:10]}]({url})"
    return f"{src['paper']}, {src['table']}"


def detail(p: Preset) -> None:
    """The preset's record: the recipe, the published value and where it was read, notes, deviations, the bench run."""
    st.subheader(p.title)
    recipe = {"Method": p.method, "Stream": p.stream, "Scenario": f"{p.scenario}-incremental",
              "Backbone": p.backbone, "Epochs per experience": p.epochs, "Batch size": p.batch_size,
              "Optimizer": p.optimizer, "Schedule": p.schedule, "Augmentation": p.augmentation,
              "Buffer": "none" if p.buffer is None else f"{p.buffer:,} samples", "Metric": p.metric}
    st.table(pd.DataFrame({"": list(recipe), "Reference": [str(v) for v in recipe.values()]}).set_index(""))
    ref = p.reference
    st.markdown(f"**Published: {p.format_value()}** ({ref.get('seeds', 'seeds not stated')}). "
                f"Source: {_source_link(p)}, read on {p.source['date_read']}.")
    if p.source.get("entry"):
        st.caption(f"Entry: {p.source['entry']}")
    if p.source.get("paper") and p.source.get("repository"):
        st.caption(f"Paper: {p.source['paper']}")
    for line in p.source.get("also", []):
        st.caption(f"Also read: {line}")
    if p.notes:
        st.markdown("**Notes on the source**\n" + "\n".join(f"- {n}" for n in p.notes))
    if p.deviations:
        st.markdown("**Where the bench's run differs from the reference's**\n"
                    + "\n".join(f"- {d}" for d in p.deviations))
    lacking = missing(p)
    if lacking:
        st.warning("This bench cannot run this preset yet. Missing:\n" + "\n".join(f"- {m}" for m in lacking))
        return
    with st.expander("The bench run (config for one seed)"):
        st.code(json.dumps(to_config(p).to_dict(), indent=1, sort_keys=True), language="json")


def _device_need(p: Preset) -> str:
    run, params = p.bench["run"], p.bench["params"]
    if str(run.get("model", "")).startswith("resnet") or str(params.get("backbone", "")).startswith("timm:"):
        return "a GPU (a ResNet or a ViT-B/16: hours on a CPU)"
    if p.bench["strategy"] == "si":
        return "a GPU (Avalanche 0.6.0's SI has no effect on a CPU: it then equals fine-tuning)"
    return "no GPU (a small MLP runs on a CPU)"


def _estimate(s: Store, p: Preset, results: pd.DataFrame) -> str:
    images = estimate.train_images(p)
    what = (f"A run trains on {images / 1e6:.2f} million images ({p.epochs} epoch{'s' if p.epochs != 1 else ''} over "
            "the training set, replayed samples not counted)" if images else "The size of this run is unknown")
    row = results.set_index("preset_id").loc[p.id]
    if row.n and row.train_time_s:
        return f"{what}; its last runs trained in {estimate.fmt_duration(row.train_time_s)} each on {row.device}."
    rates = refs.throughput(s, strategy=p.bench["strategy"], benchmark=p.bench["benchmark"])
    if rates.empty or not images:
        return (f"{what}. No full run of {p.bench['strategy']} on {p.bench['benchmark']} has finished in this store, "
                "so no measured rate gives its duration yet: a first run (or a --quick one from the command line) "
                "shows it.")
    parts = [f"about {estimate.fmt_duration(estimate.duration_s(images, r.images_per_s))} on {r.device} "
             f"(measured {r.images_per_s:,.0f} images/s over {r.runs} run{'s' if r.runs != 1 else ''})"
             for r in rates.itertuples()]
    return f"{what}: {'; '.join(parts)}."


def start_form(s: Store, p: Preset, *, cuda: bool, pool: dict) -> None:
    """Data folder, seeds and the start button, with what the run needs and how long it takes."""
    from bench.reproduce import launch
    from bench.spec.params import BadInput
    from ui import forms

    st.subheader("Run it")
    need = _device_need(p)
    st.markdown(f"Needs the dataset files in a data folder (nothing is downloaded while a run builds its stream) and "
                f"{need}. This machine: {'a CUDA device' if cuda else 'no CUDA device'}.")
    st.caption(_estimate(s, p, refs.preset_results(s, [p])))
    default_dir = os.environ.get("BENCH_DATA_DIR", "")
    data_dir = st.text_input("Data folder", value=default_dir, key=f"reproduce.data.{p.id}",
                             help="Folder with torchvision's files (e.g. MNIST/raw, cifar-10-batches-py); empty: "
                                  "$BENCH_DATA_DIR, else ~/.cache/bench/data.") or None
    seeds, err = forms.seeds_input(key=f"reproduce.seeds.{p.id}", default="0,1,2")
    # the dataset files are checked when the runs are queued (reading them loads torchvision: not on every view)
    if st.button(f"Start {len(seeds)} run{'s' if len(seeds) != 1 else ''}", type="primary",
                 key=f"reproduce.start.{p.id}", disabled=bool(err)):
        try:
            _, run_ids = launch.start(p, s, seeds=seeds, data_dir=data_dir)
        except BadInput as exc:
            st.error(str(exc))
            return
        from bench.execute import jobs

        jobs.ensure_pool(s, **pool)
        st.session_state["reproduce.last"] = run_ids
    last = st.session_state.get("reproduce.last")
    if last:
        groups = q.resolve_selection(s, group_ids=[], run_ids=last)[0].group_id
        st.success(f"Queued {len(last)} runs; they train in the background.")
        st.page_link("pages/compare.py", label="Open their comparison",
                     query_params={"groups": ",".join(dict.fromkeys(groups))})


# -- on Compare -----------------------------------------------------------------------------------------------
def _published(s: Store, series: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """(series, published, preset, source, exact, differences) for each selected group that matches a preset."""
    found = refs.published_for_groups(s, groups, presets())
    if found.empty:
        return pd.DataFrame(columns=["series", "published", "preset", "source", "exact", "differences"])
    by_id = {p.id: p for p in presets()}
    found = found.merge(series[["group_id", "series"]], on="group_id")
    return pd.DataFrame({
        "series": found.series, "published": [by_id[i].as_fraction() for i in found.preset_id],
        "preset": found.preset_id, "source": [by_id[i].source_label() for i in found.preset_id],
        "exact": found.exact, "differences": found.differences})


def with_published(s: Store, summary: pd.DataFrame, series: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """The Compare summary table with a 'Published ACC (source)' column where some group matches a preset; the table
    unchanged where none does."""
    pub = _published(s, series, groups)
    if pub.empty:
        return summary
    text: dict[str, list[str]] = {}
    for r in pub.itertuples():
        how = "same recipe" if r.exact else "same protocol; differs in " + ", ".join(d.split(":")[0]
                                                                                     for d in r.differences)
        text.setdefault(r.series, []).append(f"{r.published:.4f} ({r.preset}: {r.source}; {how})")
    col = summary["Strategy"].map(lambda name: " | ".join(text.get(name, [])))
    out = summary.copy()
    out.insert(out.columns.get_loc("ACC") + 1, "Published ACC (source)", col)
    return out


def published_marker(s: Store, run_ids: list[str], series: pd.DataFrame, groups: pd.DataFrame, *, key: str) -> None:
    """An ACC chart with the published values as markers, shown when some selected group matches a preset."""
    pub = _published(s, series, groups)
    if pub.empty:
        return
    summ = q.summary(s, run_ids)
    acc = summ[summ.metric == "acc"].merge(series[["group_id", "series"]], on="group_id")[["series", "mean", "std"]]
    st.subheader("ACC against published results")
    st.caption("Red diamond: the published value of the protocol preset the group matches (same strategy, stream, "
               "scenario, memory, backbone, epochs and batch size; 'same recipe' when every setting matches). "
               "See the Reproduce page for each preset's source and the differences between the bench and the "
               "reference.")
    show_chart(acc_reference_chart(acc, pub.drop(columns="differences"), series), key=f"{key}.published",
               name="published-acc")
