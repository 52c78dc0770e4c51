"""The strategy palette: every strategy owns one colour, picked by its position in the strategy registry, so that a
strategy looks the same on every page and in every exported figure. Reading the registry is cheap (no torch)."""
from __future__ import annotations

# One fixed palette, indexed by registry order (bench.strategies.strategies()).
PALETTE = (
    "#d62728", "#1f77b4", "#17becf", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#bcbd22", "#e377c2",
    "#7f7f7f", "#393b79", "#e7ba52", "#6b6ecf", "#8c6d31", "#7b4173", "#3182bd", "#e6550d", "#31a354",
    "#756bb1", "#636363", "#637939", "#ad494a", "#a55194", "#6baed6",
)
UNKNOWN_COLOR = "#999999"


def strategy_order() -> list[str]:
    from bench.strategies import strategies

    return [s.name for s in strategies()]


def strategy_color(name: str) -> str:
    order = strategy_order()
    return PALETTE[order.index(name) % len(PALETTE)] if name in order else UNKNOWN_COLOR


def shade(hex_color: str, k: int) -> str:
    """The k-th variant of a colour: 0 is the colour itself, then alternately lighter and darker."""
    if k == 0:
        return hex_color
    amount = min(0.2 * ((k + 1) // 2), 0.6)
    target = 255 if k % 2 else 0
    rgb = [int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (target - c) * amount):02x}" for c in rgb)
