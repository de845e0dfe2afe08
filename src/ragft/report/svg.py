"""Inline SVG charts for the report: no plotting library, nothing to download, opens offline.

Three shapes cover every figure: grouped bars with 95% whiskers, lines over x (k sweep), and
per-arm dot strips with median and p95 marks (latency distributions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from ragft import arms as arm_registry
from ragft.evaluate.stats import Interval

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948", "#9c755f")
Bar = tuple[float, float, float]  # value, low, high


def interval_bar(i: Interval | None) -> Bar | None:
    """A measured interval as a bar (value, low, high); None when nothing was measured."""
    return None if i is None or not i.n or math.isnan(i.value) else (i.value, i.low, i.high)


def _color(i: int | str) -> str:
    """A palette colour by series index, or by arm name so an arm keeps its colour across charts."""
    if isinstance(i, str):
        order = arm_registry.names()
        i = order.index(i) if i in order else sum(map(ord, i))
    return PALETTE[i % len(PALETTE)]


def _legend(names: Sequence[str], x: float, y: float, colors: Sequence[str] | None = None) -> str:
    parts = []
    for i, name in enumerate(names):
        parts.append(
            f'<rect x="{x + i * 120}" y="{y - 10}" width="12" height="12" fill="{colors[i] if colors else _color(i)}"/>'
            f'<text x="{x + i * 120 + 16}" y="{y}" font-size="12">{escape(name)}</text>'
        )
    return "".join(parts)


def _frame(width: int, height: int, title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif">'
        f'<text x="8" y="18" font-size="14" font-weight="600">{escape(title)}</text>{body}</svg>'
    )


def _axis(left: float, top: float, plot_h: float, plot_w: float, y_max: float, fmt: str) -> str:
    parts = []
    for i in range(5):
        value = y_max * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{fmt.format(value)}</text>'
        )
    return "".join(parts)


def bar_chart(
    title: str,
    groups: Sequence[str],
    series: Mapping[str, Sequence[Bar | None]],
    *,
    percent: bool = True,
    y_max: float | None = None,
    width: int = 900,
    height: int = 300,
) -> str:
    """Grouped bars (one colour per series) with whiskers from low to high; None leaves a gap."""
    left, top, bottom = 48, 40, 60
    plot_w, plot_h = width - left - 10, height - top - bottom
    values = [b[2] for bars in series.values() for b in bars if b is not None and not math.isnan(b[2])]
    y_max = y_max or (1.0 if percent else max(values, default=1.0) * 1.1 or 1.0)
    fmt = "{:.0%}" if percent else "{:.2g}"
    parts = [_axis(left, top, plot_h, plot_w, y_max, fmt)]
    group_w = plot_w / max(len(groups), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    for g, group in enumerate(groups):
        gx = left + g * group_w + group_w * 0.1
        parts.append(
            f'<text x="{gx + group_w * 0.4:.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle">{escape(group)}</text>'
        )
        for s, (name, bars) in enumerate(series.items()):
            bar = bars[g] if g < len(bars) else None
            if bar is None or math.isnan(bar[0]):
                continue
            value, low, high = (min(v, y_max) for v in bar)
            x = gx + s * bar_w
            y, h = top + plot_h * (1 - value / y_max), plot_h * value / y_max
            label = f"{name} · {group}: {fmt.format(bar[0])} [{fmt.format(bar[1])}–{fmt.format(bar[2])}]"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.9:.1f}" height="{h:.1f}" fill="{_color(s)}"><title>{escape(label)}</title></rect>'
            )
            cx, ylo, yhi = x + bar_w * 0.45, top + plot_h * (1 - low / y_max), top + plot_h * (1 - high / y_max)
            parts.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{ylo:.1f}" y2="{yhi:.1f}" stroke="#222"/>')
    parts.append(_legend(list(series), left, height - 14))
    return _frame(width, height, title, "".join(parts))


def line_chart(
    title: str,
    xs: Sequence[float],
    series: Mapping[str, Sequence[Bar | None]],
    *,
    x_label: str = "",
    width: int = 600,
    height: int = 280,
    colors: Sequence[str] | None = None,
) -> str:
    """Lines over xs (rates, 0–1) with whiskers at each point."""
    left, top, bottom = 48, 40, 60
    plot_w, plot_h = width - left - 20, height - top - bottom
    parts = [_axis(left, top, plot_h, plot_w, 1.0, "{:.0%}")]
    x_of = {x: left + plot_w * (i + 0.5) / len(xs) for i, x in enumerate(xs)}
    for x in xs:
        parts.append(f'<text x="{x_of[x]:.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle">{x:g}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h + 32}" font-size="11" text-anchor="middle">{escape(x_label)}</text>')
    for s, (name, points) in enumerate(series.items()):
        color = colors[s] if colors else _color(s)
        coords = []
        for x, p in zip(xs, points):
            if p is None:
                continue
            px, py = x_of[x], top + plot_h * (1 - p[0])
            coords.append(f"{px:.1f},{py:.1f}")
            parts.append(
                f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top + plot_h * (1 - p[1]):.1f}" y2="{top + plot_h * (1 - p[2]):.1f}" stroke="{color}"/>'
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{color}"><title>{escape(name)} k={x:g}: {p[0]:.0%}</title></circle>'
            )
        parts.append(f'<polyline points="{" ".join(coords)}" fill="none" stroke="{color}" stroke-width="2"/>')
    parts.append(_legend(list(series), left, height - 14, colors))
    return _frame(width, height, title, "".join(parts))


def strip_chart(title: str, samples: Mapping[str, Sequence[float]], *, unit: str = "s", width: int = 900, row_h: int = 44) -> str:
    """One row per arm: every sample as a dot (log-free, linear axis), with median and p95 ticks."""
    left, top = 110, 40
    height = top + row_h * max(len(samples), 1) + 40
    plot_w = width - left - 20
    x_max = max((v for vs in samples.values() for v in vs), default=1.0) * 1.05 or 1.0
    parts = []
    for i in range(6):
        x = left + plot_w * i / 5
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{height - 34}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{height - 20}" font-size="11" text-anchor="middle">{x_max * i / 5:.2g} {unit}</text>'
        )
    for r, (name, values) in enumerate(samples.items()):
        cy = top + row_h * r + row_h / 2
        parts.append(f'<text x="{left - 8}" y="{cy + 4:.1f}" font-size="12" text-anchor="end">{escape(name)}</text>')
        ordered = sorted(values)
        for j, v in enumerate(ordered):
            jitter = ((j * 7919) % 13 - 6) * 1.3
            parts.append(
                f'<circle cx="{left + plot_w * v / x_max:.1f}" cy="{cy + jitter:.1f}" r="2.5" fill="{_color(r)}" fill-opacity="0.5"/>'
            )
        for q, dash in ((50, ""), (95, ' stroke-dasharray="4 2"')):
            if ordered:
                v = ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]
                x = left + plot_w * v / x_max
                parts.append(
                    f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{cy - 14:.1f}" y2="{cy + 14:.1f}" stroke="#222" stroke-width="2"{dash}>'
                    f"<title>{escape(name)} p{q}: {v:.2f} {unit}</title></line>"
                )
    parts.append(f'<text x="{left}" y="{height - 4}" font-size="11">solid tick: median · dashed tick: 95th percentile</text>')
    return _frame(width, height, title, "".join(parts))


def cost_chart(
    title: str,
    lines: Mapping[str, tuple[float, float]],
    x_max: float,
    *,
    mark: float | None = None,
    x_label: str = "questions answered",
    unit: str = "h",
    scale: float = 1 / 3600,
    width: int = 600,
    height: int = 280,
) -> str:
    """Straight cost lines y = intercept + slope * x over [0, x_max] (one per arm, coloured by arm), with `mark` as a dashed x."""
    left, top, bottom = 64, 40, 60
    plot_w, plot_h = width - left - 20, height - top - bottom
    x_max = x_max or 1.0
    y_max = max((b + s * x_max for b, s in lines.values()), default=1.0) * scale * 1.05 or 1.0
    parts = [_axis(left, top, plot_h, plot_w, y_max, "{:.3g} " + unit)]
    for i in range(5):
        x = left + plot_w * i / 4
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle">{x_max * i / 4:,.0f}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h + 32}" font-size="11" text-anchor="middle">{escape(x_label)}</text>')

    def y_of(seconds: float) -> float:
        return top + plot_h * (1 - min(seconds * scale, y_max) / y_max)

    colors = [_color(name) for name in lines]
    for color, (name, (intercept, slope)) in zip(colors, lines.items()):
        parts.append(
            f'<line x1="{left}" y1="{y_of(intercept):.1f}" x2="{left + plot_w}" y2="{y_of(intercept + slope * x_max):.1f}" '
            f'stroke="{color}" stroke-width="2"><title>{escape(name)}: {intercept:,.0f} s + {slope:.2f} s per question</title></line>'
        )
    if mark is not None and 0 <= mark <= x_max:
        x = left + plot_w * mark / x_max
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#222" stroke-dasharray="4 3">'
            f"<title>crossover: {mark:,.0f} questions</title></line>"
        )
    parts.append(_legend(list(lines), left, height - 14, colors))
    return _frame(width, height, title, "".join(parts))
