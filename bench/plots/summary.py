"""The summary table (one row per series, 'mean ± std' over seeds), as the Compare page and the reports show it,
and the same table as Markdown, LaTeX and HTML."""
from __future__ import annotations

import html

import pandas as pd

# Summary columns: metric -> (title, decimals)
SUMMARY_METRICS = {
    "acc": ("ACC", 3), "avg_incremental_acc": ("Avg incremental ACC", 3), "bwt": ("BWT", 3), "fwt": ("FWT", 3),
    "forgetting": ("Forgetting", 3), "time_s": ("Time (s)", 1), "method_memory_mb": ("Memory: model + buffer (MB)", 2),
    "kept_samples": ("Buffer + prompts (stored-sample equivalents)", 0),
}
PM = " ± "


def summary_table(summ: pd.DataFrame, series: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """One row per series: 'mean ± std' over seeds (just the mean for one seed; 'n/a' where undefined).
    Inputs: queries.summary, charts.series_table, queries.selected_groups."""
    seeds = dict(zip(groups.group_id, groups.n_finished, strict=True))
    rows = []
    for g, name in zip(series.group_id, series.series, strict=True):
        row = {"Strategy": name, "Seeds": int(seeds.get(g, 0))}
        for metric, (title, dec) in SUMMARY_METRICS.items():
            m = summ[(summ.group_id == g) & (summ.metric == metric)]
            if m.empty:
                row[title] = "n/a"
                continue
            mean, std = float(m["mean"].iloc[0]), m["std"].iloc[0]
            row[title] = f"{mean:.{dec}f}" + ("" if pd.isna(std) else f"{PM}{float(std):.{dec}f}")
        rows.append(row)
    return pd.DataFrame(rows)


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
