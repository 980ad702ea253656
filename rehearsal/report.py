"""The rehearsal's HTML report: one self-contained page of tables and inline SVG charts.

`render_html` turns the rehearsal's JSON report (a dict) into a single HTML document
with no scripts, fonts, stylesheets or images from elsewhere, so it can be attached to
a ticket or opened from disk long after the run. The charts are plain SVG drawn here:
five line and area charts do not justify a plotting dependency.

Every key of the report may be missing or null (older or partial runs): each part of
the page renders what it finds and says so when it finds nothing. All text taken from
the report is escaped. The markup is also well-formed XML, so `xml.etree` can read it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# Chart geometry, in SVG user units; the SVG scales to the page width.
_WIDTH = 960
_HEIGHT = 300
_LEFT = 70  # room for the y tick labels and the axis title
_RIGHT = 70  # room for a second y axis
_TOP = 58  # room for the chart title and the legend
_BOTTOM = 46  # room for the x tick labels and the axis title
_PLOT_RIGHT = _WIDTH - _RIGHT
_PLOT_BOTTOM = _HEIGHT - _BOTTOM
_Y_INTERVALS = 5
_X_INTERVALS = 10

_CHART_LIMIT = 1e15
"""Larger samples (or times) are corrupt, not measured: charts skip them rather than let one
flatten the rest, and the axis arithmetic stays finite."""
_MIN_SPAN = 1e-9
"""Narrower data ranges (one sample, a flat line) are widened so the axis has a scale."""

_MAX_VIOLATIONS_SHOWN = 50
"""Per invariant: a broken run can produce thousands, and the first few tell the story."""

# The Okabe-Ito palette: it stays distinguishable for the common kinds of colour blindness.
_BLUE = "#0072B2"
_ORANGE = "#E69F00"
_GREEN = "#009E73"
_SKY = "#56B4E9"
_VERMILLION = "#D55E00"
_PURPLE = "#CC79A7"
_GREY = "#8C8C8C"

_REQUEST_KINDS = (
    ("ok", "ok", _GREEN),
    ("conflicts", "conflicts", _ORANGE),
    ("shed", "shed", _SKY),
    ("errors", "errors", _VERMILLION),
)
_LATENCY_PERCENTILES = (
    ("p50_ms", "p50", _BLUE),
    ("p75_ms", "p75", _GREEN),
    ("p90_ms", "p90", _ORANGE),
    ("p99_ms", "p99", _VERMILLION),
)

_STYLE = """
body { margin: 0; background: #f5f6f8; color: #1f2430;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans KR", sans-serif; }
header, main, footer { max-width: 1060px; margin: 0 auto; padding: 16px 24px; }
header { display: flex; justify-content: space-between; align-items: flex-start; gap: 24px; }
h1 { margin: 8px 0 12px; font-size: 28px; }
h2 { margin: 28px 0 12px; font-size: 20px; }
dl.run { display: flex; flex-wrap: wrap; gap: 6px 24px; margin: 0; }
dl.run dt { color: #5b6475; font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; }
dl.run dd { margin: 0; font-weight: 600; }
.badge { padding: 10px 28px; border-radius: 10px; color: #fff; font-size: 40px;
  font-weight: 800; letter-spacing: 0.06em; white-space: nowrap; }
.badge.pass { background: #1a7f37; }
.badge.fail { background: #c62828; }
.badge.none { background: #6b7280; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(310px, 1fr)); gap: 16px;
  align-items: start; }
.cards .wide { grid-column: 1 / -1; }
table { width: 100%; border-collapse: collapse; background: #fff;
  font-variant-numeric: tabular-nums; }
caption { padding: 0 0 6px; text-align: left; font-weight: 700; }
th, td { padding: 5px 10px; border-bottom: 1px solid #e5e7eb; }
th { text-align: left; font-weight: 600; }
td { text-align: right; }
thead th { color: #5b6475; font-size: 13px; text-align: right; }
thead th:first-child { text-align: left; }
figure.chart { margin: 0 0 18px; padding: 8px; background: #fff; border-radius: 8px; }
svg.chart { display: block; width: 100%; height: auto; }
svg text { font-family: inherit; font-size: 12px; fill: #374151; }
svg .chart-title { font-size: 15px; font-weight: 700; fill: #111827; }
ul.audit { padding: 0; list-style: none; }
ul.audit > li { margin: 4px 0; }
ul.audit ul { margin: 4px 0 8px; font-family: ui-monospace, Menlo, Consolas, monospace;
  font-size: 13px; }
.mark { display: inline-block; width: 1.4em; font-weight: 800; }
li.held .mark { color: #1a7f37; }
li.violated .mark { color: #c62828; }
.no-data { color: #6b7280; font-style: italic; }
footer { color: #6b7280; font-size: 13px; }
"""


def write_html(report: Mapping[str, Any], path: Path) -> None:
    """Write the report's HTML page to `path` (UTF-8), creating its folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")


def render_html(report: Mapping[str, Any]) -> str:
    """The whole page: header and verdict, summary tables, charts over time, audit."""
    report = _mapping(report)
    title = _text(report.get("title")) or "Onsale rehearsal"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8" />',
            '<meta name="viewport" content="width=device-width, initial-scale=1" />',
            f"<title>{_esc(title)}</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            _header(report, title),
            "<main>",
            _summary_section(report),
            _charts_section(report),
            _audit_section(report),
            "</main>",
            "<footer>Rendered from the rehearsal's JSON report.</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )


# --- reading the report: tolerant of missing keys, nulls and odd types ---------------------


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _number(value: object) -> float | None:
    """A finite number, or None for anything else (null, text, booleans, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _esc(value: object) -> str:
    return html.escape(str(value))


# --- formatting numbers for the tables -----------------------------------------------------


def _format_number(value: object) -> str | None:
    number = _number(value)
    if number is None:
        return None
    if number.is_integer() or abs(number) >= 100:
        return f"{number:,.0f}"
    return f"{number:.3g}"


def _with_unit(value: object, unit: str) -> str | None:
    formatted = _format_number(value)
    return None if formatted is None else f"{formatted} {unit}"


def _share(value: object, whole: object, of_what: str) -> str | None:
    """'700 (86.2 % of requests)', or just '700' when there is nothing to divide by."""
    formatted = _format_number(value)
    part, total = _number(value), _number(whole)
    if formatted is None or part is None or not total:
        return formatted
    return f"{formatted} ({100 * part / total:.1f} % of {of_what})"


def _times(numerator: object, denominator: object) -> str | None:
    top, bottom = _number(numerator), _number(denominator)
    if top is None or not bottom:
        return None
    return f"{top / bottom:.1f}×"


# --- header -------------------------------------------------------------------------------


def _header(report: Mapping[str, Any], title: str) -> str:
    facts = [
        ("Target", _text(report.get("target"))),
        ("Strategy", _text(report.get("strategy"))),
        ("Seats", _format_number(report.get("seats"))),
        ("GA", _format_number(report.get("ga"))),
        ("Fans", _format_number(report.get("fans"))),
        ("Started", _text(report.get("started_at"))),
    ]
    run = "".join(
        f"<div><dt>{_esc(label)}</dt><dd>{_esc(value)}</dd></div>"
        for label, value in facts
        if value is not None
    )
    verdict, css_class = _verdict(_mapping(report.get("audit")))
    return (
        f'<header><div><h1>{_esc(title)}</h1><dl class="run">{run}</dl></div>'
        f'<div class="badge {css_class}">{verdict}</div></header>'
    )


def _verdict(audit: Mapping[str, Any]) -> tuple[str, str]:
    """PASS only when the audit says ok and lists no violation: a contradiction is a FAIL."""
    ok = audit.get("ok")
    violations = _violations(audit)
    if ok is True and not violations:
        return "PASS", "pass"
    if ok is False or violations:
        return "FAIL", "fail"
    return "NOT AUDITED", "none"


# --- summary tables -----------------------------------------------------------------------


def _summary_section(report: Mapping[str, Any]) -> str:
    tables = [
        _totals_table(report),
        _latency_table(_mapping(report.get("latency_ms"))),
        _server_table(_mapping(report.get("server"))),
        _ceiling_table(_mapping(report.get("ceiling"))),
        _overload_table(_mapping(report.get("overload")), "Overload, server alone"),
        _overload_table(_mapping(report.get("overload_edge")), "Overload, through the edge"),
        _concurrency_table(_mapping(report.get("ceiling")).get("concurrency")),
        _paced_table(_mapping(report.get("ceiling")).get("paced")),
        _fsync_table(_mapping(report.get("fsync"))),
        _strategies_table(report),
    ]
    present = [table for table in tables if table]
    body = (
        f'<div class="cards">{"".join(present)}</div>'
        if present
        else '<p class="no-data">This report has no totals or measurements.</p>'
    )
    return f'<section id="summary"><h2>Summary</h2>{body}</section>'


def _facts_table(caption: str, facts: Sequence[tuple[str, str | None]]) -> str:
    """A two-column table of the facts that are present; empty when none is."""
    rows = "".join(
        f'<tr><th scope="row">{_esc(label)}</th><td>{_esc(value)}</td></tr>'
        for label, value in facts
        if value is not None
    )
    return f"<table><caption>{_esc(caption)}</caption>{rows}</table>" if rows else ""


def _grid_table(caption: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A full-width table with a header row; the first cell of each row names it."""
    if not rows:
        return ""
    head = "".join(f'<th scope="col">{_esc(cell)}</th>' for cell in header)
    body = "".join(
        f'<tr><th scope="row">{_esc(row[0])}</th>'
        + "".join(f"<td>{_esc(cell)}</td>" for cell in row[1:])
        + "</tr>"
        for row in rows
    )
    return (
        f'<table class="wide"><caption>{_esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _totals_table(report: Mapping[str, Any]) -> str:
    totals = _mapping(report.get("totals"))
    requests = totals.get("requests")
    capacity = sum(_number(report.get(key)) or 0.0 for key in ("seats", "ga"))

    def of_requests(key: str) -> str | None:
        return _share(totals.get(key), requests, "requests")

    return _facts_table(
        "Totals",
        [
            ("Requests", _format_number(requests)),
            ("OK", of_requests("ok")),
            ("Conflicts", of_requests("conflicts")),
            ("Shed", of_requests("shed")),
            ("Errors", of_requests("errors")),
            ("Unanswered", of_requests("unanswered")),
            ("of which timeouts", of_requests("timeouts")),
            ("Tickets sold", _share(totals.get("tickets_sold"), capacity, "capacity")),
            ("Orders paid", _format_number(totals.get("orders_paid"))),
            (
                "Fans with tickets",
                _share(totals.get("fans_with_tickets"), report.get("fans"), "fans"),
            ),
            ("Fans who gave up", _share(totals.get("fans_gave_up"), report.get("fans"), "fans")),
            ("Sold out", _sold_out_text(report)),
        ],
    )


def _sold_out_text(report: Mapping[str, Any]) -> str | None:
    """A null sold_out_at_s means the run did not sell out; a missing one means unknown."""
    if "sold_out_at_s" not in report:
        return None
    seconds = _format_number(report.get("sold_out_at_s"))
    return "did not sell out" if seconds is None else f"{seconds} s after opening"


def _latency_table(latency: Mapping[str, Any]) -> str:
    columns = ("p50", "p75", "p90", "p99", "max")
    rows = []
    for endpoint, stats in latency.items():
        cells = [_format_number(_mapping(stats).get(column)) for column in columns]
        if any(cell is not None for cell in cells):
            rows.append([str(endpoint), *(cell or "—" for cell in cells)])
    return _grid_table("Latency by endpoint (ms)", ["Endpoint", *columns], rows)


def _server_table(server: Mapping[str, Any]) -> str:
    return _facts_table(
        "Server",
        [
            ("Peak RSS", _with_unit(server.get("peak_rss_mib"), "MiB")),
            ("Mean CPU", _with_unit(server.get("mean_cpu_percent"), "%")),
            ("Peak CPU", _with_unit(server.get("peak_cpu_percent"), "%")),
        ],
    )


def _ceiling_table(ceiling: Mapping[str, Any]) -> str:
    trivial, attempts = ceiling.get("trivial_rps"), ceiling.get("hold_attempts_rps")
    ratio = _number(ceiling.get("ratio"))
    trivial_rps, attempts_rps = _number(trivial), _number(attempts)
    if ratio is None and attempts_rps is not None and trivial_rps:
        ratio = attempts_rps / trivial_rps  # older reports carry only the two rates
    return _facts_table(
        "Throughput ceiling",
        [
            ("Load generator", _text(ceiling.get("generator"))),
            ("Trivial endpoint", _with_unit(trivial, "req/s")),
            ("Hold attempts", _with_unit(attempts, "req/s")),
            ("Hold p99", _with_unit(ceiling.get("hold_p99_ms"), "ms")),
            ("Hold attempts ÷ trivial", None if ratio is None else f"{ratio:.2f}"),
            ("Best ÷ trivial within 100 ms at p99", _best_within(ceiling)),
        ],
    )


def _best_within(ceiling: Mapping[str, Any]) -> str | None:
    best = _mapping(ceiling.get("best_within_target"))
    if not best:
        return "none" if ceiling.get("concurrency") else None
    return (
        f"{_format_number(best.get('ratio_to_trivial'))} ({_format_number(best.get('connections'))}"
        f" connections, p99 {_format_number(best.get('p99_ms'))} ms)"
    )


def _concurrency_table(ladder: object) -> str:
    """Hold attempts with wrk at several connection counts: one row per count."""
    return _facts_table(
        "Holds by connections (wrk)",
        [
            (
                f"{_format_number(run.get('connections'))} connections",
                f"{_format_number(run.get('attempts_per_s'))}/s"
                f" ({_format_number(run.get('ratio_to_trivial'))} × trivial),"
                f" p99 {_format_number(run.get('p99_ms'))} ms"
                + ("; within 100 ms at p99" if run.get("within_target") else ""),
            )
            for run in map(_mapping, _list(ladder))
        ],
    )


def _paced_table(paced: object) -> str:
    """Hold latency at fixed rates (open loop): one row per rate tried."""
    return _facts_table(
        "Holds at a fixed rate",
        [
            (
                f"{_format_number(run.get('offered_rps'))} req/s offered",
                f"served {_format_number(run.get('served_rps'))}/s, "
                f"p99 {_format_number(run.get('served_p99_ms'))} ms, "
                f"shed {_format_number(run.get('shed_rps'))}/s",
            )
            for run in map(_mapping, _list(paced))
        ],
    )


def _overload_table(overload: Mapping[str, Any], title: str = "Overload") -> str:
    offered = overload.get("offered_rps")
    return _facts_table(
        title,
        [
            ("Server cores", _format_number(overload.get("server_cores")) or "all"),
            ("Its hold capacity (wrk)", _with_unit(overload.get("capacity_rps"), "req/s")),
            ("Offered", _with_unit(offered, "req/s")),
            ("Served", _share(overload.get("served_rps"), offered, "offered")),
            ("Shed", _share(overload.get("shed_rps"), offered, "offered")),
            ("Served p99", _with_unit(overload.get("served_p99_ms"), "ms")),
            ("Timeouts", _format_number(overload.get("timeouts"))),
            ("5xx errors", _format_number(overload.get("errors_5xx"))),
            ("Generator ahead of the server", _yes_no(overload.get("generator_ahead"))),
        ],
    )


def _yes_no(value: object) -> str | None:
    return None if not isinstance(value, bool) else ("yes" if value else "no")


def _fsync_table(fsync: Mapping[str, Any]) -> str:
    full, off = fsync.get("commits_per_s_sync_full"), fsync.get("commits_per_s_sync_off")
    return _facts_table(
        "Durability cost (fsync)",
        [
            ("Commits/s, sync full", _format_number(full)),
            ("Commits/s, sync off", _format_number(off)),
            ("One fsync", _with_unit(fsync.get("fsync_ms"), "ms")),
            ("Made slower by", _with_unit(fsync.get("fsync_delay_ms"), "ms")),
            ("Sync off ÷ sync full", _times(off, full)),
        ],
    )


def _strategies_table(report: Mapping[str, Any]) -> str:
    strategies = [row for row in map(_mapping, _list(report.get("strategies"))) if row]
    speeds = [_number(row.get("holds_per_s")) or 0.0 for row in strategies]
    slowest = min((speed for speed in speeds if speed > 0), default=None)
    current = _text(report.get("strategy"))
    rows = []
    for row in strategies:
        name = _text(row.get("strategy")) or "?"
        rows.append(
            [
                f"{name} (this run)" if name == current else name,
                _format_number(row.get("holds_per_s")) or "—",
                _format_number(row.get("attempts_per_s")) or "—",
                _format_number(row.get("p99_ms")) or "—",
                _format_number(row.get("hold_cpu_us")) or "—",
                _format_number(row.get("trivial_cpu_us")) or "—",
                _times(row.get("holds_per_s"), slowest) or "—",
            ]
        )
    return _grid_table(
        "Inventory strategies (speed-up = holds/s ÷ the slowest strategy's;"
        " server CPU per request, all threads)",
        [
            "Strategy",
            "Holds/s",
            "Attempts/s",
            "p99 ms",
            "CPU µs/attempt",
            "CPU µs/trivial",
            "Speed-up",
        ],
        rows,
    )


# --- charts: scales and ticks -------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    """One line or area: (seconds since opening, value or None for a missing sample)."""

    label: str
    colour: str
    points: Sequence[tuple[float, float | None]]
    right_axis: bool = False

    @property
    def values(self) -> list[float]:
        return [value for _, value in self.points if value is not None]


@dataclass(frozen=True)
class _Scale:
    """Maps the data interval [lo, hi] (hi > lo) onto the pixel interval [start, end]."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)


@dataclass(frozen=True)
class _Axis:
    scale: _Scale
    ticks: list[float]
    step: float


def _nice_step(span: float, intervals: int) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) cutting span into ~intervals."""
    raw = span / intervals
    power = 10.0 ** math.floor(math.log10(raw))
    return next((m * power for m in (1, 2, 2.5, 5) if raw <= m * power), 10 * power)


def _ticks(lo: float, hi: float, step: float) -> list[float]:
    # Whole multiples of the step, so that zero gets a tick whenever it is in range.
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [index * step for index in range(first, last + 1)]


def _time_axis(times: Sequence[float], marker: float | None) -> _Axis:
    """The x axis spans the samples exactly (and the sold-out moment, so its marker shows)."""
    lo, hi = min(times), max(times)
    if marker is not None:
        lo, hi = min(lo, marker), max(hi, marker)
    if hi - lo < _MIN_SPAN:
        lo, hi = lo - 1, hi + 1
    step = _nice_step(hi - lo, _X_INTERVALS)
    return _Axis(_Scale(lo, hi, _LEFT, _PLOT_RIGHT), _ticks(lo, hi, step), step)


def _value_axis(values: Sequence[float], ceiling: float | None = None) -> _Axis:
    """A linear y axis from zero (or below, for negative values) to a round number at or
    above the highest value, or above `ceiling` when the chart cuts off its outliers."""
    top = max([*values, 0.0]) if ceiling is None else ceiling
    bottom = min([*values, 0.0])
    if top - bottom < _MIN_SPAN:
        top = bottom + 1
    step = _nice_step(top - bottom, _Y_INTERVALS)
    lo = math.floor(bottom / step + 1e-9) * step
    hi = max(math.ceil(top / step - 1e-9) * step, lo + step)
    return _Axis(_Scale(lo, hi, _PLOT_BOTTOM, _TOP), _ticks(lo, hi, step), step)


def _tick_label(value: float, axis: _Axis) -> str:
    """'2.5k' rather than '2,500.0': as many decimals as the step needs, k/M for big axes."""
    if value == 0:
        return "0"
    largest = max(abs(axis.scale.lo), abs(axis.scale.hi))
    divisor, suffix = (1e6, "M") if largest >= 1e7 else (1e3, "k") if largest >= 1e4 else (1, "")
    step = axis.step / divisor
    decimals = next((d for d in range(7) if abs(round(step, d) - step) < 1e-9 * step), 6)
    text = f"{value / divisor:,.{decimals}f}"
    if decimals:
        text = text.rstrip("0").rstrip(".")
    return text + suffix


def _latency_ceiling(values: Sequence[float]) -> float | None:
    """Where to cut a latency axis so that one stall does not flatten every other second:
    three times the 95th percentile of the samples, or None when nothing exceeds that."""
    ordered = sorted(values)
    cut = 3 * ordered[round(0.95 * (len(ordered) - 1))]
    return cut if ordered[-1] > cut > 0 else None


# --- charts: SVG ----------------------------------------------------------------------------


def _svg_chart(
    title: str,
    x: _Axis,
    y: _Axis,
    *,
    y_label: str,
    legend: Sequence[_Series],
    plot: str,
    sold_out_s: float | None,
    right: tuple[_Axis, str] | None = None,
    note: str = "",
) -> str:
    """The frame shared by every chart: title, legend, axes, grid, ticks, sold-out marker."""
    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="{_esc(title)}">',
        f"<title>{_esc(title)}</title>",
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="#ffffff" />',
        f'<text class="chart-title" x="{_LEFT}" y="20">{_esc(title)}</text>',
        _svg_legend(legend),
        _svg_y_axis(y, y_label),
        _svg_x_axis(x),
        f'<path d="M{_LEFT},{_TOP} V{_PLOT_BOTTOM} H{_PLOT_RIGHT}" fill="none" stroke="#6b7280" />',
        plot,  # after the axes, so data on an axis line stays visible
        _svg_right_axis(*right) if right else "",
        "" if sold_out_s is None else _svg_sold_out_marker(x, sold_out_s),
        note,
        "</svg>",
    ]
    return "".join(part for part in parts if part)


def _svg_legend(series: Sequence[_Series]) -> str:
    items = []
    left = float(_LEFT)
    for one in series:
        label = f"{one.label} (right axis)" if one.right_axis else one.label
        items.append(
            f'<rect x="{left:.0f}" y="32" width="12" height="12" rx="2" fill="{one.colour}" />'
            f'<text x="{left + 17:.0f}" y="42">{_esc(label)}</text>'
        )
        # No font metrics without a browser: ~6.6 units a character at 12px is close enough.
        left += 17 + 6.6 * len(label) + 18
    return f'<g class="legend">{"".join(items)}</g>'


def _svg_y_axis(y: _Axis, label: str) -> str:
    parts = []
    for value in y.ticks:
        py = y.scale(value)
        parts.append(
            f'<line x1="{_LEFT}" x2="{_PLOT_RIGHT}" y1="{py:.1f}" y2="{py:.1f}" stroke="#e5e7eb" />'
            f'<text x="{_LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">'
            f"{_tick_label(value, y)}</text>"
        )
    middle = (_TOP + _PLOT_BOTTOM) / 2
    parts.append(
        f'<text x="0" y="0" transform="translate(16 {middle:.0f}) rotate(-90)" '
        f'text-anchor="middle">{_esc(label)}</text>'
    )
    return f'<g class="y-axis">{"".join(parts)}</g>'


def _svg_right_axis(axis: _Axis, label: str) -> str:
    parts = [
        f'<line x1="{_PLOT_RIGHT}" x2="{_PLOT_RIGHT}" y1="{_TOP}" y2="{_PLOT_BOTTOM}" '
        'stroke="#6b7280" />'
    ]
    for value in axis.ticks:
        py = axis.scale(value)
        parts.append(
            f'<line x1="{_PLOT_RIGHT}" x2="{_PLOT_RIGHT + 4}" y1="{py:.1f}" y2="{py:.1f}" '
            f'stroke="#6b7280" /><text x="{_PLOT_RIGHT + 7}" y="{py + 4:.1f}">'
            f"{_tick_label(value, axis)}</text>"
        )
    middle = (_TOP + _PLOT_BOTTOM) / 2
    parts.append(
        f'<text x="0" y="0" transform="translate({_WIDTH - 12} {middle:.0f}) rotate(90)" '
        f'text-anchor="middle">{_esc(label)}</text>'
    )
    return f'<g class="y-axis-right">{"".join(parts)}</g>'


def _svg_x_axis(x: _Axis) -> str:
    parts = []
    for value in x.ticks:
        px = x.scale(value)
        parts.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{_PLOT_BOTTOM}" y2="{_PLOT_BOTTOM + 4}" '
            f'stroke="#6b7280" /><text x="{px:.1f}" y="{_PLOT_BOTTOM + 17}" '
            f'text-anchor="middle">{_tick_label(value, x)}</text>'
        )
    parts.append(
        f'<text x="{(_LEFT + _PLOT_RIGHT) / 2:.0f}" y="{_HEIGHT - 8}" text-anchor="middle">'
        "seconds since the sale opened</text>"
    )
    return f'<g class="x-axis">{"".join(parts)}</g>'


def _svg_sold_out_marker(x: _Axis, sold_out_s: float) -> str:
    px = x.scale(sold_out_s)
    # Label on the side with room for it.
    anchor, dx = ("end", -5) if px > _PLOT_RIGHT - 130 else ("start", 5)
    return (
        f'<g class="sold-out-marker"><line x1="{px:.1f}" x2="{px:.1f}" y1="{_TOP}" '
        f'y2="{_PLOT_BOTTOM}" stroke="#111827" stroke-width="1.5" stroke-dasharray="6 4" />'
        f'<text x="{px + dx:.1f}" y="{_TOP + 12}" text-anchor="{anchor}">'
        f"sold out at {_format_number(sold_out_s)} s</text></g>"
    )


def _line_path(points: Sequence[tuple[float, float | None]], x: _Scale, y: _Scale) -> str:
    """SVG path data. A missing sample lifts the pen, so a gap shows as a gap, not a zero;
    'h0' after each move makes a lone sample visible as a dot (round line caps)."""
    commands: list[str] = []
    pen_down = False
    for t, value in points:
        if value is None:
            pen_down = False
            continue
        px, py = x(t), y(min(value, y.hi))  # values above a cut axis stay on its top edge
        commands.append(f"L{px:.1f},{py:.1f}" if pen_down else f"M{px:.1f},{py:.1f}h0")
        pen_down = True
    return " ".join(commands)


def _svg_line(series: _Series, x: _Axis, y: _Axis) -> str:
    return (
        f'<path d="{_line_path(series.points, x.scale, y.scale)}" fill="none" '
        f'stroke="{series.colour}" stroke-width="2" stroke-linejoin="round" '
        'stroke-linecap="round" />'
    )


def _svg_lines(
    title: str,
    series: Sequence[_Series],
    *,
    y_label: str,
    sold_out_s: float | None,
    right_label: str = "",
    cut_outliers: bool = False,
) -> str | None:
    """A line chart; series flagged right_axis get a second y axis. None without data."""
    drawn = [one for one in series if one.values]
    if not drawn:
        return None
    left_values = [value for one in drawn if not one.right_axis for value in one.values]
    right_values = [value for one in drawn if one.right_axis for value in one.values]
    ceiling = _latency_ceiling(left_values) if cut_outliers and left_values else None
    x = _time_axis([t for one in drawn for t, _ in one.points], sold_out_s)
    y = _value_axis(left_values, ceiling)
    right = _value_axis(right_values) if right_values else None
    paths = "".join(_svg_line(one, x, right if one.right_axis and right else y) for one in drawn)
    note = ""
    if ceiling is not None:
        note = (
            f'<text class="cut-note" x="{_PLOT_RIGHT}" y="20" text-anchor="end">'
            f"axis cut at {_format_number(y.scale.hi)} {_esc(y_label)}; "
            f"peak {_format_number(max(left_values))} {_esc(y_label)}</text>"
        )
    return _svg_chart(
        title,
        x,
        y,
        y_label=y_label,
        legend=drawn,
        plot=f'<g class="lines">{paths}</g>',
        sold_out_s=sold_out_s,
        right=(right, right_label) if right else None,
        note=note,
    )


def _svg_stacked_areas(
    title: str, layers: Sequence[_Series], *, y_label: str, sold_out_s: float | None
) -> str | None:
    """Layers stacked bottom-up (a missing sample counts as zero). None without data.
    All layers must share the same times, as columns of one timeline do."""
    drawn = [layer for layer in layers if layer.values]
    if not drawn:
        return None
    times = [t for t, _ in drawn[0].points]
    heights = [[max(value or 0.0, 0.0) for _, value in layer.points] for layer in drawn]
    totals = [sum(column) for column in zip(*heights, strict=True)]
    x = _time_axis(times, sold_out_s)
    y = _value_axis(totals)
    base = [0.0] * len(times)
    shapes = []
    for layer, height in zip(drawn, heights, strict=True):
        top = [below + h for below, h in zip(base, height, strict=True)]
        upper = [f"{x.scale(t):.1f},{y.scale(v):.1f}" for t, v in zip(times, top, strict=True)]
        lower = [f"{x.scale(t):.1f},{y.scale(v):.1f}" for t, v in zip(times, base, strict=True)]
        outline = "M" + " L".join([*upper, *reversed(lower)]) + " Z"
        shapes.append(f'<path d="{outline}" fill="{layer.colour}" fill-opacity="0.85" />')
        base = top
    return _svg_chart(
        title,
        x,
        y,
        y_label=y_label,
        legend=drawn,
        plot=f'<g class="areas">{"".join(shapes)}</g>',
        sold_out_s=sold_out_s,
    )


# --- charts: what the timeline shows ------------------------------------------------------

_Timeline = list[tuple[float, Mapping[str, Any]]]


def _timeline(report: Mapping[str, Any]) -> _Timeline:
    """The rows that have a plausible time, in time order."""
    rows = []
    for row in _list(report.get("timeline")):
        t = _chartable(row.get("t")) if isinstance(row, Mapping) else None
        if t is not None:
            rows.append((t, row))
    rows.sort(key=lambda pair: pair[0])
    return rows


def _chartable(value: object) -> float | None:
    number = _number(value)
    return number if number is not None and abs(number) < _CHART_LIMIT else None


def _column(rows: _Timeline, key: str) -> list[tuple[float, float | None]]:
    return [(t, _chartable(row.get(key))) for t, row in rows]


def _request_layers(rows: _Timeline) -> list[_Series]:
    layers = [_Series(label, colour, _column(rows, key)) for key, label, colour in _REQUEST_KINDS]
    # Whatever `requests` counts beyond the four kinds still belongs in the stack's height.
    unclassified: list[tuple[float, float | None]] = []
    for t, row in rows:
        total = _chartable(row.get("requests"))
        counted = sum(_chartable(row.get(key)) or 0.0 for key, _, _ in _REQUEST_KINDS)
        unclassified.append((t, total - counted if total is not None and total > counted else None))
    return [*layers, _Series("unclassified", _GREY, unclassified)]


def _server_chart(rows: _Timeline, sold_out_s: float | None) -> str | None:
    title = "Server CPU and memory"
    cpu = _Series("CPU %", _VERMILLION, _column(rows, "cpu_percent"))
    rss = _Series("RSS MiB", _BLUE, _column(rows, "rss_mib"), right_axis=True)
    if not cpu.values:  # memory alone goes on the main axis
        return _svg_lines(
            title, [replace(rss, right_axis=False)], y_label="MiB", sold_out_s=sold_out_s
        )
    return _svg_lines(
        title, [cpu, rss], y_label="CPU %", right_label="RSS MiB", sold_out_s=sold_out_s
    )


def _charts_section(report: Mapping[str, Any]) -> str:
    rows = _timeline(report)
    if not rows:
        body = '<p class="no-data">This report has no timeline.</p>'
        return f'<section id="charts"><h2>Over time</h2>{body}</section>'
    sold_out_s = _chartable(report.get("sold_out_at_s"))
    charts = [
        (
            "request counts",
            _svg_stacked_areas(
                "Requests per second by outcome",
                _request_layers(rows),
                y_label="requests / s",
                sold_out_s=sold_out_s,
            ),
        ),
        (
            "latency percentiles",
            _svg_lines(
                "Latency percentiles",
                [
                    _Series(label, colour, _column(rows, key))
                    for key, label, colour in _LATENCY_PERCENTILES
                ],
                y_label="ms",
                sold_out_s=sold_out_s,
                cut_outliers=True,
            ),
        ),
        (
            "ticket counts",
            _svg_lines(
                "Tickets sold and held",
                [
                    _Series("sold", _BLUE, _column(rows, "sold")),
                    _Series("held", _ORANGE, _column(rows, "held")),
                ],
                y_label="tickets",
                sold_out_s=sold_out_s,
            ),
        ),
        ("server samples", _server_chart(rows, sold_out_s)),
        (
            "active fan counts",
            _svg_lines(
                "Active fans",
                [_Series("active fans", _PURPLE, _column(rows, "active_fans"))],
                y_label="fans",
                sold_out_s=sold_out_s,
            ),
        ),
    ]
    figures = "".join(
        f'<figure class="chart">{svg}</figure>'
        if svg
        else f'<p class="no-data">No {_esc(what)} in this report\'s timeline.</p>'
        for what, svg in charts
    )
    return f'<section id="charts"><h2>Over time</h2>{figures}</section>'


# --- audit --------------------------------------------------------------------------------


def _violations(audit: Mapping[str, Any]) -> dict[str, list[str]]:
    """Invariant name → its violations as text; invariants without any are left out."""
    found = {}
    for name, raw in _mapping(audit.get("violations")).items():
        items = _list(raw) if isinstance(raw, list | tuple) else [raw]
        texts = [str(item) for item in items if item is not None and item != ""]
        if texts:
            found[str(name)] = texts
    return found


def _audit_section(report: Mapping[str, Any]) -> str:
    audit = _mapping(report.get("audit"))
    if not audit:
        body = '<p class="no-data">This report has no audit.</p>'
        return f'<section id="audit"><h2>Audit</h2>{body}</section>'
    violations = _violations(audit)
    checked = [str(name) for name in _list(audit.get("checked")) if name is not None]
    # Violations of an invariant missing from `checked` must still show.
    names = [*dict.fromkeys([*checked, *violations])]
    items = "".join(_audit_item(name, violations.get(name, [])) for name in names)
    body = (
        f'<ul class="audit">{items}</ul>'
        if items
        else '<p class="no-data">The audit lists no invariants.</p>'
    )
    return f'<section id="audit"><h2>Audit</h2>{body}</section>'


def _audit_item(name: str, violations: Sequence[str]) -> str:
    if not violations:
        return f'<li class="held"><span class="mark">✓</span>{_esc(name)}</li>'
    shown = violations[:_MAX_VIOLATIONS_SHOWN]
    listed = "".join(f"<li>{_esc(violation)}</li>" for violation in shown)
    if len(violations) > len(shown):
        listed += f"<li>… and {len(violations) - len(shown):,} more</li>"
    count = f"{len(violations):,} violation{'s' if len(violations) != 1 else ''}"
    return (
        f'<li class="violated"><span class="mark">✗</span>{_esc(name)}: {count}'
        f"<ul>{listed}</ul></li>"
    )
