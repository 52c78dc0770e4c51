"""Bad import files for the reliability count: each kind is imported into a store that already holds one imported
run, and must be refused with exit code 2 and one line, leaving every table of the store as it was.

    python scripts/bad_imports.py          # prints one line per kind, then the count
"""
from __future__ import annotations

import contextlib
import io
import struct
import sys
import tempfile
from pathlib import Path

GOOD_EVAL = "eval_exp,training_exp,eval_accuracy,eval_loss,forgetting\n" + "".join(
    f"{j},{i},{0.9 if i == j else 0.2:.4f},1.0000,0\n" for i in range(2) for j in range(2))
GOOD_TRAIN = ("training_exp,epoch,training_accuracy,val_accuracy,training_loss,val_loss\n"
              "0,0,0.5,0,1.0,0\n1,0,0.5,0,1.0,0\n")
TABLE_HEAD = "run,strategy,seed,step,trained_experience,eval_experience,accuracy\n"
GOOD_TABLE = TABLE_HEAD + "".join(f"r,ewc,0,{i + 1},{i},{j},0.5\n" for i in range(2) for j in range(2))


def event_file(path: Path, scalars: list[tuple[str, int, float]]) -> Path:
    """A TensorBoard event file (TFRecord of Event protos) as SummaryWriter writes it, for the given scalars."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    from bench.results.importers.tensorboard import masked_crc32c

    events = [event_pb2.Event(wall_time=1.0, file_version="brain.Event:2")]
    events += [event_pb2.Event(wall_time=1.0, step=step, summary=summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])) for tag, step, value in scalars]
    out = b""
    for e in events:
        body = e.SerializeToString()
        header = struct.pack("<Q", len(body))
        out += header + struct.pack("<I", masked_crc32c(header)) + body + struct.pack("<I", masked_crc32c(body))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out)
    return path


def _acc_scalars() -> list[tuple[str, int, float]]:
    tag = "Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp{:03d}"
    return [(tag.format(j), 10 * (i + 1), 0.9 if i == j else 0.2) for i in range(2) for j in range(2)]


def _folder(root: Path, name: str, files: dict[str, str | bytes]) -> str:
    folder = root / name
    folder.mkdir(parents=True)
    for fname, content in files.items():
        (folder / fname).write_bytes(content.encode() if isinstance(content, str) else content)
    return str(folder)


def _file(root: Path, name: str, content: str | bytes) -> str:
    path = root / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def cases(root: Path) -> list[tuple[str, list[str]]]:
    """(kind, the CLI arguments of its import) for every kind of bad import."""
    good_events = event_file(root / "tb-good" / "events.out.tfevents.1.host", _acc_scalars()).read_bytes()
    csv = lambda name, text, **more: ["avalanche-csv", _folder(root, name, {"eval_results.csv": text, **more})]  # noqa: E731
    tb = lambda name, data: ["tensorboard", _folder(root, name, {"events.out.tfevents.2.host": data})]  # noqa: E731
    table = lambda name, text: ["table", _file(root, name, text)]  # noqa: E731
    (root / "empty").mkdir()
    return [
        ("csv: empty folder", ["avalanche-csv", str(root / "empty")]),
        ("csv: folder does not exist", ["avalanche-csv", str(root / "nowhere")]),
        ("csv: empty eval_results.csv", csv("c-empty", "")),
        ("csv: header but no rows", csv("c-header", GOOD_EVAL.splitlines()[0] + "\n")),
        ("csv: not text", csv("c-binary", b"\x89PNG\r\n\x1a\n\xff\xfe\x00")),
        ("csv: malformed (unclosed quote)", csv("c-quote", GOOD_EVAL + '0,1,"0.5\n')),
        ("csv: wrong columns", csv("c-columns", "exp,trained,acc\n0,0,0.5\n")),
        ("csv: a row with an extra field", csv("c-fields", GOOD_EVAL + "0,1,0.5,1.0,0,9\n")),
        ("csv: accuracy not a number", csv("c-nan", GOOD_EVAL.replace("0.9000", "high"))),
        ("csv: accuracy in percent", csv("c-percent", GOOD_EVAL.replace("0.9000", "90.0000"))),
        ("csv: an experience never evaluated after training", csv("c-hole", "\n".join(GOOD_EVAL.splitlines()[:3]))),
        ("csv: two streams mixed after one experience", csv("c-streams", GOOD_EVAL + "0,1,0.7000,1.0000,0\n")),
        ("csv: training file of another run", csv("c-train", GOOD_EVAL, **{"training_results.csv": GOOD_TRAIN.replace(
            "\n1,0,", "\n3,0,")})),
        ("tensorboard: no event file", ["tensorboard", str(root / "empty")]),
        ("tensorboard: truncated event file", tb("t-trunc", good_events[:-7])),
        ("tensorboard: damaged record", tb("t-flip", good_events[:-9] + bytes([good_events[-9] ^ 0xFF])
                                            + good_events[-8:])),
        ("tensorboard: not an event file", tb("t-garbage", b"\x00\x01 not a tfrecord " * 8)),
        ("tensorboard: no accuracy scalars", tb("t-loss", event_file(root / "loss" / "e", [
            ("Loss_Exp/eval_phase/test_stream/Task000/Exp000", 10, 0.5)]).read_bytes())),
        ("table: missing column", table("missing.csv", GOOD_TABLE.replace("eval_experience", "exp"))),
        ("table: accuracy not a number", table("nan.csv", GOOD_TABLE.replace("0,0.5\n", "0,half\n", 1))),
        ("table: two strategies in one run", table("two.csv", GOOD_TABLE.replace("r,ewc,0,2,1,1", "r,lwf,0,2,1,1"))),
        ("table: unsupported file type", table("results.xlsx", GOOD_TABLE)),
        ("table: corrupt parquet", table("broken.parquet", b"PAR1" + b"\x00" * 40 + b"PAR1")),
        ("table: a folder, not a file", ["table", str(root / "empty")]),
        ("duplicate import", ["avalanche-csv", str(root / "good")]),
        ("bad --scenario label", ["avalanche-csv", _folder(root, "c-ok", {"eval_results.csv": GOOD_EVAL.replace(
            "0.2000", "0.2500")}), "--scenario", "diagonal"]),
        ("bad --seed", ["tensorboard", str(root / "tb-good"), "--seed", "-3"]),
    ]


def _counts(store) -> tuple:
    """Rows in every table, in one store access (an import only ever inserts: a refused one must add none)."""
    from bench.results.store import ROW_TABLES

    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in ("runs", *ROW_TABLES))
    return tuple(store.query(sql).iloc[0])


def _tables(store) -> dict:
    """Every row of every table, to compare the store before and after all the kinds."""
    from bench.results.store import ROW_TABLES

    out = {}
    for t in ("runs", *ROW_TABLES):
        df = store.table(t).astype(str)
        out[t] = df.sort_values(list(df.columns)).to_csv(index=False)
    return out


def check(root: Path) -> tuple[int, list[str]]:
    """Try every kind; returns (kinds tried, what was not refused cleanly)."""
    from bench.cli import main as cli
    from bench.results.store import Store

    store_path = root / "store.duckdb"
    _folder(root, "good", {"eval_results.csv": GOOD_EVAL, "training_results.csv": GOOD_TRAIN})
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli(["import", "avalanche-csv", str(root / "good"), "--store", str(store_path)]) == 0
    tried, failures = cases(root), []
    store = Store(store_path)
    before, counts = _tables(store), _counts(store)
    for kind, argv in tried:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli(["import", *argv, "--store", str(store_path)])
        text = err.getvalue().strip()
        if code != 2 or "\n" in text or not text.startswith("error: ") or "Traceback" in text:
            failures.append(f"{kind} -> exit {code}: {text[:160]}")
        elif _counts(store) != counts:
            failures.append(f"{kind} -> refused, but rows were written")
    if _tables(store) != before:
        failures.append("the store's rows changed while bad imports were refused")
    return len(tried), failures


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tried, failures = check(Path(tmp))
    for f in failures:
        print(f"NOT CLEAN: {f}")
    print(f"bad imports: {tried} kinds tried, {tried - len(failures)} refused cleanly (exit 2, one line, store "
          "unchanged)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
