"""A comparison to take away: one self-contained HTML file (charts as inline SVG, the summary table, every run's
config and the command that reproduces it, versions) and the summary table as LaTeX or Markdown. Built from the
same queries and chart functions as the Compare page, so the report shows what the page shows."""
from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass

import pandas as pd

from bench.plots import charts
from bench.plots.summary import summary_table, to_html, to_latex, to_markdown
from bench.results import queries as q
from bench.results import report_data
from bench.results.store import Store
from bench.spec.params import BadInput

METRICS_NOTE = ("ACC: mean final accuracy over experiences. BWT: how much training later experiences changed "
                "accuracy on earlier ones (negative = forgetting). FWT: accuracy on an experience before training it, "
                "above the untrained model. Forgetting: best earlier accuracy minus final accuracy (Chaudhry et al. "
                "2018). Mean ± std over seeds; n/a where a metric is undefined or the run did not record it.")


@dataclass(frozen=True)
class Comparison:
    """What a report shows: the runs with results, their series (labels and colours) and summary table."""

    run_ids: list[str]
    series: pd.DataFrame
    table: pd.DataFrame


def comparison(store: Store, run_ids: list[str]) -> Comparison:
    ids = q.with_results(store, run_ids)
    if not ids:
        raise BadInput("nothing to report: none of the selected runs is finished or imported")
    groups = q.selected_groups(store, ids)
    series = charts.series_table(groups)
    table = summary_table(q.summary(store, ids), series, groups)
    empty = [c for c in table.columns if (table[c] == "n/a").all()]  # e.g. time and memory of imported runs
    return Comparison(ids, series, table.drop(columns=empty))


def chart_list(store: Store, c: Comparison) -> list[tuple[str, object]]:
    """(title, Altair chart) of every chart the Compare page draws for these runs and has rows for."""
    ids, series = c.run_ids, c.series
    out = []
    curves = q.retention(store, ids)
    if not curves.empty:
        out.append(("Retention: accuracy on each experience during training",
                    charts.retention_chart(curves, q.boundaries(store, ids), series)))
    mats = q.matrices(store, ids)
    if not mats.empty:
        out.append(("Accuracy matrices", charts.matrix_chart(mats, series)))
    forg = q.forgetting_by_experience(store, ids)
    if not forg.empty:
        out.append(("Forgetting per experience", charts.forgetting_chart(forg, series)))
    recall = q.class_recall(store, ids)
    if not recall.empty:
        out.append(("Per-class recall across the stream", charts.class_recall_chart(recall, series)))
    return out


def _stamp() -> str:
    v = report_data.versions()
    return (f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by cl-bench {v['cl-bench']} "
            f"(avalanche-lib {v['avalanche-lib']}, torch {v['torch']})")


def markdown(store: Store, run_ids: list[str]) -> str:
    c = comparison(store, run_ids)
    return to_markdown(c.table) + f"\n{METRICS_NOTE}\n\n{_stamp()}\n"


def latex(store: Store, run_ids: list[str]) -> str:
    c = comparison(store, run_ids)
    return f"% {_stamp()}\n% needs \\usepackage{{booktabs}}\n" + to_latex(
        c.table, caption=METRICS_NOTE)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;
padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.3rem .6rem;
text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f5f5f5}
.note{color:#555;font-size:.85rem}figure{margin:1rem 0;overflow-x:auto}pre{background:#f7f7f7;padding:.6rem;
overflow-x:auto;font-size:.8rem;white-space:pre-wrap}details{margin:.3rem 0}code{font-size:.85rem}
"""


def _runs_section(runs: list[dict]) -> str:
    rows = []
    for r in runs:
        acc = "n/a" if r["acc"] is None or r["acc"] != r["acc"] else f"{r['acc']:.3f}"
        origin = (f"imported ({html.escape(r['source']['tool'])}) from {html.escape(r['source']['source'])}"
                  if r["source"] else "trained by the bench")
        rows.append(
            f"<details><summary><code>{r['run_id']}</code> · {html.escape(str(r['strategy']))} · "
            f"{html.escape(str(r['benchmark']))}/{html.escape(str(r['scenario']))} · seed {r['seed']} · "
            f"{html.escape(str(r['status']))} · ACC {acc}</summary>"
            f"<p>{origin}. To reproduce it:</p><pre>{html.escape(r['command'])}</pre>"
            f"<p>Config:</p><pre>{html.escape(json.dumps(r['config'], indent=2, sort_keys=True))}</pre></details>")
    return "\n".join(rows)


def html_report(store: Store, run_ids: list[str], *, title: str = "Continual-learning bench report") -> str:
    """The whole report as one HTML document that needs no network: styles inline, charts as inline SVG."""
    c = comparison(store, run_ids)
    figures = []
    for name, chart in chart_list(store, c):
        figures.append(f"<h2>{html.escape(name)}</h2><figure>{charts.to_svg(chart)}</figure>")
    runs = report_data.runs(store, c.run_ids)
    versions = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                       for k, v in report_data.versions().items())
    imported = sum(1 for r in runs if r["source"])
    note = (f" {imported} of them imported from results made elsewhere; their steps count what their files count "
            "(iterations, epochs or the table's own steps)." if imported else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="note">{html.escape(_stamp())}. {len(runs)} runs in {len(c.series)} groups.{html.escape(note)}</p>
<h2>Summary (mean ± std over seeds)</h2>
{to_html(c.table)}
<p class="note">{html.escape(METRICS_NOTE)}</p>
{''.join(figures)}
<h2>Runs: config and the command that reproduces each</h2>
{_runs_section(runs)}
<h2>Versions</h2>
<p class="note">Of the bench that wrote this report (the runs may have been made with others).</p>
<table class="versions"><tbody>{versions}</tbody></table>
</body></html>
"""


FORMATS = {"html": html_report, "latex": latex, "markdown": markdown}
SUFFIXES = {".html": "html", ".htm": "html", ".tex": "latex", ".md": "markdown"}
