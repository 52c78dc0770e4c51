"""The report command: a comparison as a self-contained HTML file, or its summary table as LaTeX or Markdown."""
from __future__ import annotations

import os
from pathlib import Path

from bench.spec.params import BadInput


def register(sub) -> dict:
    rp = sub.add_parser("report", help="write a comparison as a self-contained HTML report (or LaTeX / Markdown)")
    rp.add_argument("--groups", help="comma-separated group ids (default: the latest comparison, as on Compare)")
    rp.add_argument("--runs", help="comma-separated run ids, alone or with --groups")
    rp.add_argument("--out", required=True, help="the file to write: .html, .tex or .md (or give --format)")
    rp.add_argument("--format", choices=("html", "latex", "markdown"),
                    help="default: from the suffix of --out")
    rp.add_argument("--store")
    return {"report": cmd_report}


def _ids(raw: str | None) -> list[str]:
    return [x.strip() for x in (raw or "").split(",") if x.strip()]


def cmd_report(args) -> int:
    from bench.plots import report
    from bench.results import queries as q
    from bench.results.store import Store

    out = Path(args.out).expanduser()
    fmt = args.format or report.SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise BadInput(f"--out {args.out!r}: cannot tell the format from its suffix: give --format html, latex "
                       f"or markdown, or name the file {', '.join(report.SUFFIXES)}")
    if not out.parent.is_dir():
        raise BadInput(f"--out {args.out!r}: folder {str(out.parent)!r} does not exist")
    if args.store and not Path(args.store).exists():
        raise BadInput(f"--store {args.store!r} does not exist")
    store = Store(args.store)
    groups, runs = _ids(args.groups), _ids(args.runs)
    if not groups and not runs:
        groups = q.latest_comparison(store)
        if not groups:
            raise BadInput("nothing to report: the store has no finished or imported run")
    selected, unknown = q.resolve_selection(store, group_ids=groups, run_ids=runs)
    if unknown:
        raise BadInput(f"unknown group or run id {unknown[0]!r}: see python -m bench export, or the Compare page")
    text = report.FORMATS[fmt](store, list(selected.run_id))
    tmp = out.with_name(out.name + ".tmp")  # written whole, then renamed: never half a report
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInput(f"--out {args.out!r} cannot be written: {exc.strerror}") from None
    print(out)
    return 0
