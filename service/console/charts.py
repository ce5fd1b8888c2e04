"""Small server-side SVG charts: no chart library, no script, classes styled by the CSS.

Every label is escaped here; colours come from series classes (.s0 ... .s7), since the
CSP forbids inline styles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from markupsafe import Markup, escape

W, H = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 40
SERIES = 8


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * step:
            return float(factor * step)
    return float(10 * step)


def _frame(
    top: float, title: str, label_every: int, labels: Sequence[str], x_of: Callable[[int], float]
) -> list[str]:
    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">']
    parts.append(f"<title>{escape(title)}</title>")
    for i in range(5):
        value = top * i / 4
        y = H - BOTTOM - (H - TOP - BOTTOM) * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        text = f"{value:.1f}".removesuffix(".0")
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}"/>'
    )
    for i, label in enumerate(labels):
        if i % label_every == 0:
            x = x_of(i)
            y = H - BOTTOM + 16
            parts.append(f'<text x="{x:.1f}" y="{y}" text-anchor="middle">{escape(label)}</text>')
    return parts


def stacked_bars(
    title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]]
) -> Markup:
    """One bar per label, stacked by series (e.g. incidents per day by severity)."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    slot = (W - LEFT - RIGHT) / max(len(labels), 1)
    scale = (H - TOP - BOTTOM) / top
    parts = _frame(top, title, max(1, len(labels) // 8), labels, lambda i: LEFT + slot * (i + 0.5))
    for i in range(len(labels)):
        y = float(H - BOTTOM)
        for n, (name, values) in enumerate(series.items()):
            height = values[i] * scale
            if height <= 0:
                continue
            y -= height
            parts.append(
                f'<rect class="s{n % SERIES}" x="{LEFT + slot * i + slot * 0.15:.1f}" '
                f'y="{y:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}">'
                f"<title>{escape(labels[i])} {escape(name)}: {values[i]:g}</title></rect>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label went through escape()


def lines(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]]) -> Markup:
    """One line per series over the labels (e.g. events per hour per source)."""
    top = _nice_max(max((v for values in series.values() for v in values), default=0))
    span = (W - LEFT - RIGHT) / max(len(labels) - 1, 1)
    scale = (H - TOP - BOTTOM) / top

    def x_of(i: int) -> float:
        return LEFT + span * i

    parts = _frame(top, title, max(1, len(labels) // 8), labels, x_of)
    for n, (name, values) in enumerate(series.items()):
        points = " L".join(
            f"{x_of(i):.1f},{H - BOTTOM - v * scale:.1f}" for i, v in enumerate(values)
        )
        parts.append(
            f'<path class="line s{n % SERIES}" d="M{points}"><title>{escape(name)}</title></path>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label went through escape()


def legend(names: Sequence[str]) -> Markup:
    items = "".join(
        f'<li class="s{n % SERIES}">{escape(name)}</li>' for n, name in enumerate(names)
    )
    return Markup(f'<ul class="legend">{items}</ul>')  # noqa: S704 - names escaped above
