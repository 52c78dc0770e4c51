"""Importing results made elsewhere: a long table and CSVLogger-format folders written by the tests, hand-computed
matrices and metrics, one transaction, no duplicates, and the pool never touching imported runs."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cli import main as cli
from bench.execute import jobs
from bench.plots import charts
from bench.results import importers
from bench.results import queries as q
from bench.results.importers.tensorboard import masked_crc32c, masked_crc32c_many
from bench.results.store import ROW_TABLES, Store
from bench.spec.params import BadInput
from bench.spec.status import RESULT_STATUSES, TERMINAL, Status
from bench.train import metrics

ROOT = Path(__file__).resolve().parent.parent
# A 3-experience run checked by hand: R[i][j] after training experience i, b before training.
R = np.array([[0.9, 0.1, 0.0], [0.5, 0.8, 0.2], [0.3, 0.6, 0.7]])
B = np.array([0.3, 0.35, 0.3])


def table_rows(run: str = "ewc-a", strategy: str = "ewc", seed: int = 0, R=R, b=B, dense: bool = True) -> list[dict]:
    """The long table a script would write: the initial evaluation, a dense point halfway through each
    experience (accuracy made up, 0.5), then the end-of-experience evaluation at step 10 * (i + 1)."""
    rows = [dict(run=run, strategy=strategy, seed=seed, step=0, trained_experience=-1, eval_experience=j,
                 accuracy=b[j]) for j in range(len(b))] if b is not None else []
    for i in range(len(R)):
        if dense:
            rows += [dict(run=run, strategy=strategy, seed=seed, step=10 * i + 5, trained_experience=i,
                          eval_experience=j, accuracy=0.5) for j in range(len(R))]
        rows += [dict(run=run, strategy=strategy, seed=seed, step=10 * (i + 1), trained_experience=i,
                      eval_experience=j, accuracy=R[i][j], loss=1.0 - R[i][j]) for j in range(len(R))]
    return rows


def write_csvlogger(folder, R=R, b=B, epochs: int = 2, lower_only: bool = False):
    """eval_results.csv and training_results.csv exactly as Avalanche's CSVLogger writes them (4 decimals, None
    before training)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["eval_exp,training_exp,eval_accuracy,eval_loss,forgetting"]
    if b is not None:
        lines += [f"{j},None,{b[j]:.4f},{2.0:.4f},0" for j in range(len(b))]
    for i in range(len(R)):
        for j in range(len(R)):
            if not lower_only or j <= i or i == len(R) - 1:
                lines.append(f"{j},{i},{R[i][j]:.4f},{1 - R[i][j]:.4f},0")
    (folder / "eval_results.csv").write_text("\n".join(lines) + "\n")
    train = ["training_exp,epoch,training_accuracy,val_accuracy,training_loss,val_loss"]
    train += [f"{i},{e},{0.5:.4f},0,{1.0:.4f},0" for i in range(len(R)) for e in range(epochs)]
    (folder / "training_results.csv").write_text("\n".join(train) + "\n")
    return folder


def run_cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(list(args))
    return code, out.getvalue(), err.getvalue()


def fingerprint(store: Store) -> dict:
    """Every row of every table, to check that a refused import changed nothing."""
    return {t: store.table(t).sort_values(list(store.table(t).columns)[:3]).to_csv(index=False)
            for t in ("runs", *ROW_TABLES)}


# -- the table ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_import_rebuilds_matrix_curves_and_metrics(tmp_path, suffix):
    path = tmp_path / f"results{suffix}"
    df = pd.DataFrame(table_rows() + table_rows(run="ewc-b", seed=1, R=R[::-1, ::-1].copy()))
    df.to_csv(path, index=False) if suffix == ".csv" else df.to_parquet(path, index=False)
    store_path = tmp_path / "s.duckdb"
    code, out, err = run_cli("import", "table", str(path), "--store", str(store_path), "--benchmark", "split-digits",
                             "--scenario", "class", "--json")
    assert code == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["strategy"] for x in lines] == ["ewc", "ewc"] and [x["seed"] for x in lines] == [0, 1]
    assert lines[0]["status"] == "imported" and lines[0]["tool"] == "table"
    np.testing.assert_allclose(lines[0]["accuracy_matrix"], R)
    store = Store(store_path)
    np.testing.assert_allclose(q.accuracy_matrix(store, lines[0]["run_id"]), R)
    # the run metrics are bench.train.metrics' on the matrix, checked here by hand for ACC, BWT, forgetting and FWT
    m = lines[0]["metrics"]
    assert m["acc"] == pytest.approx((0.3 + 0.6 + 0.7) / 3)
    assert m["bwt"] == pytest.approx(((0.3 - 0.9) + (0.6 - 0.8)) / 2)
    assert m["forgetting"] == pytest.approx(((0.9 - 0.3) + (0.8 - 0.6)) / 2)
    assert m["fwt"] is None  # class-incremental: an unseen class is never predicted, so FWT is n/a
    expected = metrics.summary(R, B, scenario="class")  # the same function on the same matrix (nan: n/a, null in JSON)
    assert {k: v for k, v in m.items() if v is not None} == pytest.approx(
        {k: v for k, v in expected.items() if v == v and k in m})
    ev = store.query("SELECT kind, count(*) AS n FROM evaluations WHERE run_id = ? GROUP BY kind",
                     [lines[0]["run_id"]]).set_index("kind").n.to_dict()
    assert ev == {"initial": 3, "dense": 9, "end": 9}
    # both seeds form one group, charted like trained groups
    groups = q.groups(store)
    assert len(groups) == 1 and groups.n_finished.iloc[0] == 2 and groups.benchmark.iloc[0] == "split-digits"
    assert set(q.retention(store, [x["run_id"] for x in lines]).iteration) == {0, 5, 10, 15, 20, 25, 30}
    src = importers.sources(store, [lines[0]["run_id"]])[lines[0]["run_id"]]
    assert src["tool"] == "table" and src["source"] == str(path.resolve()) and src["step_unit"] == "step"


def test_imported_runs_are_results_everywhere_and_the_pool_never_touches_them(tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame(table_rows()).to_csv(path, index=False)
    store = Store(tmp_path / "s.duckdb")
    (run_id,) = importers.save(store, importers.prepare(importers.load("table", str(path)), tool="table"))
    assert Status.IMPORTED in TERMINAL and Status.IMPORTED in RESULT_STATUSES
    assert store.claim_next(host="h", pid=1) is None and store.claim(run_id, host="h", pid=1) is None
    assert jobs.reap(store) == 0 and jobs.wait(store, [run_id], timeout=5) == {run_id: "imported"}
    assert store.run_row(run_id)["status"] == "imported"
    overview = q.run_overview(store).set_index("run_id")
    assert overview.loc[run_id, "progress"] == 1.0 and overview.loc[run_id, "acc"] == pytest.approx(R[-1].mean())
    assert q.latest_comparison(store) == [store.run_row(run_id)["group_id"]]
    assert q.with_results(store, [run_id]) == [run_id]
    assert q.selected_groups(store, [run_id]).n_finished.tolist() == [1]
    assert q.configs(store).empty  # lessons never mistake an imported run for one they would train


def test_series_are_marked_imported_and_trained_labels_do_not_change(tmp_path):
    from bench.spec.config import RunConfig

    trained = [RunConfig(benchmark="split-digits", scenario="class", strategy=s) for s in ("naive", "replay")]
    rows = [{"group_id": c.group_key(), "strategy": c.strategy, "config_json": c.to_json()} for c in trained]
    alone = charts.series_table(pd.DataFrame(rows))
    imported = {"benchmark": "split-digits", "scenario": "class", "strategy": "naive", "params": {},
                "benchmark_params": {}, "seed": 0, "imported": "table"}
    rows.append({"group_id": "imp", "strategy": "naive", "config_json": json.dumps(imported)})
    both = charts.series_table(pd.DataFrame(rows)).set_index("group_id").series
    assert both["imp"] == "naive (imported)"
    assert [both[g] for g in alone.group_id] == list(alone.series) == ["naive", "replay"]


# -- CSVLogger folders (the format written by hand here; test_imports_avalanche runs the real logger) -----------
def test_csvlogger_folders_of_several_runs_get_names_and_seeds(tmp_path):
    write_csvlogger(tmp_path / "logs" / "replay-seed0")
    write_csvlogger(tmp_path / "logs" / "replay-seed1", R=R * 0.5)
    write_csvlogger(tmp_path / "logs" / "naive", lower_only=True)
    write_csvlogger(tmp_path / "logs" / "ewc" / "seed3", R=R * 0.9)
    code, out, err = run_cli("import", "avalanche-csv", str(tmp_path / "logs"), "--store", str(tmp_path / "s.duckdb"),
                             "--json")
    assert code == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    assert [(x["strategy"], x["seed"]) for x in lines] == [("ewc", 3), ("naive", 0), ("replay", 0), ("replay", 1)]
    lines = lines[1:]
    lower = np.array(lines[0]["accuracy_matrix"], dtype=float)  # null above the diagonal: never evaluated
    assert np.isnan(lower[0, 1:]).all() and np.isnan(lower[1, 2])
    np.testing.assert_allclose(np.tril(np.nan_to_num(lower)), np.tril(R))
    assert lines[0]["metrics"]["fwt"] is None  # needs R[j-1][j], which that run never measured
    assert lines[0]["metrics"]["bwt"] == pytest.approx(metrics.backward_transfer(R))
    np.testing.assert_allclose(lines[2]["accuracy_matrix"], np.round(R * 0.5, 4))
    store = Store(tmp_path / "s.duckdb")
    curve = q.train_curve(store, lines[1]["run_id"])
    assert list(curve.iteration) == [1, 2, 3, 4, 5, 6] and list(curve.trained_exp) == [0, 0, 1, 1, 2, 2]
    ends = store.query("SELECT DISTINCT trained_exp, iteration FROM evaluations WHERE run_id = ? AND kind = 'end' "
                       "ORDER BY 1", [lines[1]["run_id"]])
    assert list(ends.iteration) == [2, 4, 6]  # steps count epochs: the file has no iterations
    assert importers.sources(store, [lines[1]["run_id"]])[lines[1]["run_id"]]["step_unit"] == "epoch"


def test_importing_the_same_files_twice_is_refused_and_changes_nothing(tmp_path):
    folder = write_csvlogger(tmp_path / "run")
    store_path = tmp_path / "s.duckdb"
    assert run_cli("import", "avalanche-csv", str(folder), "--store", str(store_path))[0] == 0
    before = fingerprint(Store(store_path))
    code, out, err = run_cli("import", "avalanche-csv", str(folder), "--store", str(store_path), "--strategy", "x")
    assert code == 2 and out == "" and err.count("\n") == 1 and "already imported as run" in err
    assert fingerprint(Store(store_path)) == before
    # deleting the run deletes its source row too: then it can come back
    (run_id,) = Store(store_path).table("runs").run_id
    jobs.delete(Store(store_path), [run_id])
    assert Store(store_path).table("run_sources").empty
    assert run_cli("import", "avalanche-csv", str(folder), "--store", str(store_path))[0] == 0


def test_a_bad_run_among_good_ones_imports_none_of_them(tmp_path):
    write_csvlogger(tmp_path / "logs" / "a")
    write_csvlogger(tmp_path / "logs" / "b")
    text = (tmp_path / "logs" / "b" / "eval_results.csv").read_text().replace("0.6000", "0.6x00")
    (tmp_path / "logs" / "b" / "eval_results.csv").write_text(text)
    store = Store(tmp_path / "s.duckdb")
    before = fingerprint(store)
    with pytest.raises(BadInput, match=r"b/eval_results.csv line \d+: eval_accuracy '0.6x00' is not a number"):
        importers.save(store, importers.prepare(importers.load("avalanche-csv", str(tmp_path / "logs")),
                                                tool="avalanche-csv"))
    assert fingerprint(store) == before


def test_the_store_transaction_is_all_or_nothing(tmp_path):
    """Two good runs whose second insert fails inside the transaction (a duplicate of the first's content)."""
    path = tmp_path / "r.csv"
    pd.DataFrame(table_rows()).to_csv(path, index=False)
    store = Store(tmp_path / "s.duckdb")
    batch = importers.prepare(importers.load("table", str(path)), tool="table")
    twin = importers.prepare(importers.load("table", str(path)), tool="table")
    before = fingerprint(store)
    with pytest.raises(BadInput, match="same content"):
        store.insert_complete(batch + twin)
    assert fingerprint(store) == before


# -- refused in one line, nothing written --------------------------------------------------------------------
def bad_table(tmp_path, name: str, mutate) -> str:
    df = pd.DataFrame(table_rows())
    df = mutate(df)
    path = tmp_path / name
    df.to_csv(path, index=False)
    return str(path)


BAD_TABLES = {
    "missing column": lambda d: d.drop(columns="eval_experience"),
    "accuracy not a number": lambda d: d.astype({"accuracy": str}).assign(accuracy=lambda x: x.accuracy.where(
        x.index != 4, "high")),
    "percentages": lambda d: d.assign(accuracy=d.accuracy * 100),
    "negative experience": lambda d: d.assign(eval_experience=d.eval_experience.where(d.index != 2, -3)),
    "two strategies in a run": lambda d: d.assign(strategy=d.strategy.where(d.index != 7, "lwf")),
    "an experience never trained": lambda d: d[d.trained_experience != 1],
    "no row": lambda d: d.iloc[:0],
}


@pytest.mark.parametrize("kind", list(BAD_TABLES))
def test_bad_tables_are_refused_in_one_line(tmp_path, kind):
    path = bad_table(tmp_path, "t.csv", BAD_TABLES[kind])
    code, out, err = run_cli("import", "table", path, "--store", str(tmp_path / "s.duckdb"))
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "s.duckdb").exists()  # the store is opened only once the files are good


@pytest.mark.parametrize("content,match", [
    (b"", "is empty"),
    (b"eval_exp,training_exp,eval_accuracy\n", "no evaluations"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a text CSV"),
    (b'eval_exp,training_exp,eval_accuracy\n0,0,"0.5\n', "not valid CSV"),
    (b"exp,trained,acc\n0,0,0.5\n", "no column 'eval_exp'"),
    (b"eval_exp,training_exp,eval_accuracy\n0,0,0.5,7\n", "line 2 has 4 fields"),
    (b"eval_exp,training_exp,eval_accuracy\n0,0,0.5\n0,0,0.7\n", "evaluated twice"),
    (b"eval_exp,training_exp,eval_accuracy\n0,0,nan\n", "out of range"),
    (b"eval_exp,training_exp,eval_accuracy\n0,0,0.5\n1,0,0.5\n", "after training each of the 2"),
])
def test_bad_csvlogger_files_are_refused_in_one_line(tmp_path, content, match):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "eval_results.csv").write_bytes(content)
    with pytest.raises(BadInput, match=match) as exc:
        importers.prepare(importers.load("avalanche-csv", str(tmp_path / "run")), tool="avalanche-csv")
    assert "\n" not in str(exc.value)


def test_missing_and_empty_folders_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    for tool, path, match in [("avalanche-csv", tmp_path / "empty", "holds no eval_results.csv"),
                              ("avalanche-csv", tmp_path / "nowhere", "does not exist"),
                              ("tensorboard", tmp_path / "empty", "holds no TensorBoard event file"),
                              ("table", tmp_path / "empty", "is a folder"),
                              ("table", tmp_path / "nowhere.csv", "does not exist")]:
        code, _, err = run_cli("import", tool, str(path), "--store", str(tmp_path / "s.duckdb"))
        assert code == 2 and match in err and err.count("\n") == 1, (tool, err)
    assert not (tmp_path / "s.duckdb").exists()


def test_bad_labels_are_refused(tmp_path):
    folder = write_csvlogger(tmp_path / "run")
    for flags, match in [(["--scenario", "diagonal"], "--scenario 'diagonal'"), (["--seed", "x"], "--seed='x'"),
                         (["--strategy", "a;rm -rf"], "--strategy"), (["--benchmark", ""], "--benchmark")]:
        code, _, err = run_cli("import", "avalanche-csv", str(folder), "--store", str(tmp_path / "s.duckdb"), *flags)
        assert code == 2 and match in err, err


def test_crc32c_matches_the_published_check_value():
    # CRC-32C of "123456789" is 0xE3069283 (RFC 3720, appendix B.4); TFRecord stores it masked
    crc = 0xE3069283
    assert masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    rng = np.random.default_rng(0)
    chunks = [rng.bytes(int(n)) for n in rng.integers(0, 200, 300)] + [b"", b"123456789", rng.bytes(3000)]
    assert masked_crc32c_many(chunks, batch=64) == [masked_crc32c(c) for c in chunks]  # the vectorised one agrees


def test_every_kind_of_bad_import_in_the_reliability_count_is_refused_cleanly(tmp_path):
    """scripts/bad_imports.py, as scripts/reliability.py runs it: one line, exit 2, the store's tables unchanged."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bad_imports", ROOT / "scripts" / "bad_imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tried, failures = module.check(tmp_path)
    assert failures == [] and tried >= 25
