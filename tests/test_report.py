"""Reports: the self-contained HTML file (inline SVG charts, the summary table, every run's config and command,
versions), the summary table as LaTeX and Markdown, and the reproducing commands parsed back by the CLI."""
from __future__ import annotations

import json
import re
import shlex

import pandas as pd
import pytest
from test_imports import table_rows

from bench.cli import build_parser, main
from bench.cli.runs import _config
from bench.plots import report
from bench.registry import validate
from bench.results import importers, report_data, synthetic
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.params import parse_assignments


@pytest.fixture
def store(tmp_path) -> Store:
    """Five finished runs (one group, seeds 0-4, synthetic rows shaped like real ones) and two imported seeds of
    my_method, on the same stream and scenario."""
    path = tmp_path / "s.duckdb"
    synthetic.build(path, n_runs=5)
    pd.DataFrame(table_rows(run="a", strategy="my_method", seed=0) + table_rows(run="b", strategy="my_method", seed=1)
                 ).to_csv(tmp_path / "mine.csv", index=False)
    s = Store(path)
    importers.save(s, importers.prepare(importers.load("table", str(tmp_path / "mine.csv")), tool="table",
                                        benchmark="split-digits", scenario="class"))
    return s


def test_report_of_the_latest_comparison_is_one_self_contained_html_file(store, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", "--store", str(store.path), "--out", str(out)]) == 0
    text = out.read_text()
    groups = q.latest_comparison(store)
    assert len(groups) == 2  # the synthetic group and the imported one: same stream and scenario
    assert text.count("<svg") == 4  # retention, accuracy matrices, forgetting, per-class recall
    assert "<script" not in text and not re.search(r"""(src|href)=["']?https?:""", text)  # nothing to fetch
    assert "<td>my_method (imported)</td><td>2</td>" in text
    runs = q.runs(store)
    for rid in runs.run_id:
        assert f"<code>{rid}</code>" in text
    assert text.count("python -m bench run --benchmark split-digits --scenario class") == 5
    assert text.count("python -m bench import table ") == 2 and "mine.csv --strategy my_method --seed 1" in text
    assert "<td>avalanche-lib</td><td>0.6.0</td>" in text and "<td>cl-bench</td>" in text


def test_summary_as_latex_and_markdown(store, tmp_path):
    ids = list(q.resolve_selection(store, group_ids=q.latest_comparison(store), run_ids=[])[0].run_id)
    md = report.markdown(store, ids)
    lines = md.splitlines()
    assert lines[0].startswith("| Strategy | Seeds | ACC |") and lines[1].startswith("|---|---:|")
    assert lines[3].startswith("| my_method (imported) | 2 | 0.533 ± 0.")  # R's last row and its mirror
    tex = report.latex(store, ids)
    assert r"\begin{tabular}{l" in tex and r"\toprule" in tex and r"\bottomrule" in tex
    assert r"my\_method (imported) & 2 & 0.533 $\pm$ 0." in tex
    assert "±" not in tex and "_method" not in tex.replace(r"\_method", "")
    # the CLI writes the same tables (the format from the suffix); only the time stamp differs
    assert main(["report", "--store", str(store.path), "--out", str(tmp_path / "t.tex")]) == 0
    assert main(["report", "--store", str(store.path), "--out", str(tmp_path / "t.md")]) == 0
    table = lambda text: text[text.index("\\begin{table}"):]  # noqa: E731
    assert table((tmp_path / "t.tex").read_text()) == table(tex)
    assert (tmp_path / "t.md").read_text().split("\n\n")[0] == md.split("\n\n")[0]


def test_the_command_of_a_trained_run_rebuilds_its_config():
    cfg = RunConfig(benchmark="split-digits", scenario="task", strategy="replay", params={"mem_size": 50},
                    benchmark_params={"n_experiences": 4}, epochs=2, lr=0.05, seed=3, fast=False)
    words = shlex.split(report_data.run_command(json.loads(cfg.to_json())))
    assert words[:4] == ["python", "-m", "bench", "run"]
    args = build_parser()[0].parse_args(words[3:])
    # as `python -m bench run` builds it: flags -> RunConfig -> typed and checked by the registry
    rebuilt = validate(_config(args, args.strategy, parse_assignments(args.param)).with_seed(int(args.seed)))
    assert rebuilt.config_key() == validate(cfg).config_key() and rebuilt.fast is False


@pytest.mark.parametrize("argv,match", [
    (["--out", "{tmp}/r.pdf"], "cannot tell the format"),
    (["--out", "{tmp}/no-such-dir/r.html"], "does not exist"),
    (["--out", "{tmp}/r.html", "--groups", "nope"], "unknown group or run id 'nope'"),
    (["--out", "{tmp}/r.html", "--store", "{tmp}/missing.duckdb"], "does not exist"),
])
def test_bad_report_requests_are_refused_in_one_line(store, tmp_path, capsys, argv, match):
    argv = [a.format(tmp=tmp_path) for a in argv]
    if "--store" not in argv:
        argv += ["--store", str(store.path)]
    assert main(["report", *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1
    assert not list(tmp_path.glob("r.*"))


def test_an_empty_store_has_nothing_to_report(tmp_path, capsys):
    Store(tmp_path / "empty.duckdb")
    assert main(["report", "--store", str(tmp_path / "empty.duckdb"), "--out", str(tmp_path / "r.html")]) == 2
    assert "nothing to report" in capsys.readouterr().err and not (tmp_path / "r.html").exists()
