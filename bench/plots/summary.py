"""The summary table (one row per series, 'mean ± std' over seeds), as the Compare page and the reports show it,
and the same table as Markdown, LaTeX and HTML."""
from __future__ import annotations

import html

import pandas as pd

from bench.train.metrics import FORGETTING, FWT_UNDEFINED

# Summary columns: metric -> (title, decimals); the forgetting column is the definition the user picked.
FORGETTING_TITLES = {"forgetting": "Forgetting (best earlier − final)",
                     "forgetting_initial": "Forgetting (just after learning − final)"}
SUMMARY_METRICS = {
    "acc": ("ACC", 3), "avg_incremental_acc": ("Avg incremental ACC", 3), "bwt": ("BWT", 3), "fwt": ("FWT", 3),
    "forgetting": (FORGETTING_TITLES["forgetting"], 3), "wc_acc": ("WC-ACC", 3), "min_acc": ("min-ACC", 3),
    "anytime_acc": ("Anytime ACC", 3), "time_s": ("Time (s)", 1),
    "method_memory_mb": ("Memory: model + buffer (MB)", 2),
    "kept_samples": ("Buffer + prompts (stored-sample equivalents)", 0),
}
VAL_METRICS = {"acc": ("ACC (val)", 3), "wc_acc": ("WC-ACC (val)", 3)}  # shown when some run has a validation split
PM = " ± "


def summary_table(summ: pd.DataFrame, series: pd.DataFrame, groups: pd.DataFrame, *,
                  forgetting: str = "forgetting", val: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per series: 'mean ± std' over seeds (just the mean for one seed; 'n/a' where undefined) of the test
    metrics, forgetting in the chosen definition, and the VAL_METRICS columns from `val` (the validation split's
    queries.summary) when it has rows."""
    seeds = dict(zip(groups.group_id, groups.n_finished, strict=True))
    columns = {}
    for metric, (title, dec) in SUMMARY_METRICS.items():
        if metric == "forgetting":  # the column of the chosen definition, in the same place
            metric, title = forgetting, FORGETTING_TITLES[forgetting]
        columns[metric] = (title, dec)
    rows = []
    for g, name in zip(series.group_id, series.series, strict=True):
        row = {"Strategy": name, "Seeds": int(seeds.get(g, 0))}
        for table, cols in ((summ, columns), (val, VAL_METRICS if val is not None and not val.empty else {})):
            for metric, (title, dec) in cols.items():
                row[title] = _cell(table[(table.group_id == g) & (table.metric == metric)], dec)
        rows.append(row)
    return pd.DataFrame(rows)


def _cell(m: pd.DataFrame, dec: int) -> str:
    if m.empty:
        return "n/a"
    mean, std = float(m["mean"].iloc[0]), m["std"].iloc[0]
    return f"{mean:.{dec}f}" + ("" if pd.isna(std) else f"{PM}{float(std):.{dec}f}")


def summary_caption(groups: pd.DataFrame, *, forgetting: str, has_val: bool) -> str:
    """What each summary column means, which split it comes from, and why FWT is n/a where it is."""
    fwt_na = sorted(set(groups.scenario) & set(FWT_UNDEFINED))
    fwt = ("FWT: accuracy on an experience before training it, above the untrained model's (Lopez-Paz & Ranzato "
           "2017). " + "".join(f"FWT is n/a in the {sc}-incremental scenario: {FWT_UNDEFINED[sc]}. " for sc in fwt_na))
    split = ("Every column is measured on the test sets except those marked (val), which are measured on the "
             "validation split held out of each experience's training data (val_fraction): choose settings on "
             "those, report the test ones. " if has_val else "Every number is measured on the test sets. ")
    return (split + "ACC: mean final accuracy over experiences. BWT: how much training later experiences changed "
            "accuracy on earlier ones (negative = forgetting). " + fwt + f"Forgetting: {FORGETTING[forgetting]}; "
            "switch the definition above. WC-ACC, min-ACC, Anytime ACC: from the dense curves (see the stability "
            "gap below). Joint training has no sequence, so BWT, FWT, forgetting and the curve metrics are n/a. "
            "Buffer + prompts: the stored samples and the prompt and key numbers a method keeps, counted in "
            "stored inputs, so that rehearsal-free methods can be set against replay at equal memory "
            "(regularization methods' importance weights are not counted).")


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table: strategy left-aligned, numbers right-aligned."""
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    head = "| " + " | ".join(cell(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(table.columns))) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _latex(value) -> str:
    text = "".join(_LATEX.get(ch, ch) for ch in str(value))
    return text.replace("±", r"$\pm$")


def to_latex(table: pd.DataFrame, *, caption: str = "") -> str:
    """A booktabs tabular (\\usepackage{booktabs}); special characters escaped, ± as $\\pm$."""
    spec = "l" + "r" * (len(table.columns) - 1)
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(r"\caption{" + _latex(caption) + "}")
    lines += [r"\begin{tabular}{" + spec + "}", r"\toprule",
              " & ".join(_latex(c) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex(v) for v in row) + r" \\" for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_html(table: pd.DataFrame) -> str:
    """A plain HTML table (escaped), for the self-contained report."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in table.itertuples(index=False))
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
