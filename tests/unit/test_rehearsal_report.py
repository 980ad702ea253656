"""The rehearsal's HTML report: one self-contained, well-formed page that shows what the
JSON report holds (charts, sold-out marker, verdict, escaped audit text) and survives
reports with missing, null or malformed parts."""

from __future__ import annotations

import copy
import html
import math
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from rehearsal.report import render_html, write_html

TARGET = "http://127.0.0.1:8000"
CHART_TITLES = {
    "Requests per second by outcome",
    "Latency percentiles",
    "Tickets sold and held",
    "Server CPU and memory",
    "Active fans",
}
SOLD_OUT_AT_S = 41.5


def synthetic_report() -> dict[str, Any]:
    """A plausible 120-second run: fans arrive before opening, the first seconds stall,
    15,000 seats and 1,000 GA sell out at 41.5 s, then traffic drains."""
    capacity = 16_000
    timeline = []
    sold = 0
    for t in range(-10, 110):
        before_opening = t < 0
        selling = 0 <= t < SOLD_OUT_AT_S
        requests = 200 if before_opening else 9000 if selling else max(300, 9000 - 150 * t)
        conflicts = 0 if before_opening else requests // 8
        shed = 0 if before_opening else requests // 10
        errors = 1 if t % 17 == 0 else 0
        ok = requests - conflicts - shed - errors
        sold = min(capacity, sold + (400 if selling else 0))
        held = 0 if before_opening or sold >= capacity else 300 + 5 * t
        stall = 1 if 0 <= t < 3 else 0  # the first seconds after opening are slow
        p50 = 3.0 + 0.02 * max(t, 0) + 40 * stall
        timeline.append(
            {
                "t": t,
                "requests": requests,
                "ok": ok,
                "conflicts": conflicts,
                "shed": shed,
                "errors": errors,
                "p50_ms": p50,
                "p75_ms": p50 * 1.5,
                "p90_ms": p50 * 2.8,
                "p99_ms": p50 * 9 + 900 * stall,
                "sold": sold,
                "held": held,
                "cpu_percent": 20.0 if before_opening else 150 + 40 * math.sin(t / 5),
                "rss_mib": 180.0 + 1.1 * (t + 10),
                "active_fans": 4000 if before_opening else max(0, 60_000 - 500 * t),
            }
        )
    return {
        "title": "Onsale rehearsal",
        "started_at": "2026-11-26T02:00:00Z",
        "target": TARGET,
        "strategy": "claims",
        "seats": 15_000,
        "ga": 1_000,
        "fans": 60_000,
        "timeline": timeline,
        "sold_out_at_s": SOLD_OUT_AT_S,
        "totals": {
            "requests": 250_000,
            "ok": 180_000,
            "conflicts": 40_000,
            "shed": 29_000,
            "errors": 700,
            "timeouts": 300,
            "tickets_sold": 16_000,
            "orders_paid": 6_100,
            "fans_with_tickets": 6_000,
            "fans_gave_up": 54_000,
        },
        "latency_ms": {
            endpoint: {"p50": 4.0, "p75": 6.0, "p90": 11.0, "p99": 48.0, "max": 900.0}
            for endpoint in ("hold", "order", "pay", "seats")
        },
        "server": {"peak_rss_mib": 310.0, "mean_cpu_percent": 140.0, "peak_cpu_percent": 199.0},
        "ceiling": {
            "generator": "wrk",
            "trivial_rps": 9100.0,
            "hold_attempts_rps": 4200.0,
            "hold_p99_ms": 38.0,
            "ratio": 0.46,
            "concurrency": [
                {
                    "connections": 16,
                    "attempts_per_s": 3000.0,
                    "ratio_to_trivial": 0.33,
                    "p99_ms": 40.0,
                    "within_target": True,
                },
                {
                    "connections": 64,
                    "attempts_per_s": 4200.0,
                    "ratio_to_trivial": 0.46,
                    "p99_ms": 138.0,
                    "within_target": False,
                },
            ],
            "best_within_target": {"connections": 16, "ratio_to_trivial": 0.33, "p99_ms": 40.0},
        },
        "strategies": [
            {
                "strategy": "claims",
                "holds_per_s": 1200.0,
                "attempts_per_s": 4200.0,
                "p99_ms": 38,
                "hold_cpu_us": 410.5,
                "trivial_cpu_us": 120.0,
            },
            {
                "strategy": "seat-locks",
                "holds_per_s": 300.0,
                "attempts_per_s": 1500.0,
                "p99_ms": 90,
            },
            {"strategy": "performance-lock", "holds_per_s": 400.0, "attempts_per_s": 900.0},
        ],
        "overload": {
            "offered_rps": 90_000,
            "served_rps": 4000,
            "shed_rps": 5000,
            "served_p99_ms": 120.0,
            "timeouts": 0,
            "errors_5xx": 0,
        },
        "fsync": {
            "commits_per_s_sync_full": 900.0,
            "commits_per_s_sync_off": 40_000.0,
            "fsync_ms": 1.1,
        },
        "audit": {
            "ok": True,
            "checked": ["single sale", "conservation", "paid orders have tickets"],
            "violations": {},
        },
    }


def failed_report() -> dict[str, Any]:
    report = synthetic_report()
    report["audit"] = {
        "ok": False,
        "checked": ["single sale", "conservation"],
        "violations": {"single sale": ['seat A-1-1 sold twice: <b>orders</b> o1 & "o2"']},
    }
    return report


def parse(page: str) -> ET.Element:
    """The page as XML: parsing fails unless it is one well-formed document."""
    return ET.fromstring(page)


def text_of(element: ET.Element) -> str:
    return "".join(element.itertext())


def child_text(element: ET.Element, path: str) -> str:
    found = element.find(path)
    assert found is not None, path
    return text_of(found)


def with_class(root: ET.Element, css_class: str) -> list[ET.Element]:
    return [el for el in root.iter() if css_class in (el.get("class") or "").split()]


def svgs(root: ET.Element) -> list[ET.Element]:
    return list(root.iter("svg"))


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_page_is_one_self_contained_document() -> None:
    """GIVEN a full report WHEN rendered THEN one well-formed HTML document, with nothing
    fetched from elsewhere: no scripts, links, images, frames, src/href or CSS urls, and
    no 'http' except the target's own text."""
    page = render_html(synthetic_report())

    root = parse(page)
    assert root.tag == "html"
    assert [child.tag for child in root] == ["head", "body"]
    assert page.count("<html") == 1

    collector = TagCollector()
    collector.feed(page)
    collector.close()
    tag_names = {tag for tag, _ in collector.tags}
    assert not tag_names & {"script", "link", "img", "iframe", "object", "embed", "image", "use"}
    for tag, attrs in collector.tags:
        assert not {"src", "href", "xlink:href"} & attrs.keys(), tag
    assert "<script" not in page.lower()
    assert "url(" not in page and "@import" not in page

    assert TARGET in text_of(with_class(root, "run")[0])
    assert "http" not in page.replace(html.escape(TARGET), "").lower()


def test_one_svg_per_chart_with_axes_and_legend() -> None:
    """GIVEN a timeline with every column WHEN rendered THEN five SVG charts, each titled,
    with tick labels on both axes and a legend."""
    root = parse(render_html(synthetic_report()))

    charts = svgs(root)
    assert {child_text(svg, "title") for svg in charts} == CHART_TITLES
    assert len(charts) == len(CHART_TITLES)
    for svg in charts:
        assert len(with_class(svg, "x-axis")[0].findall("text")) >= 5
        assert len(with_class(svg, "y-axis")[0].findall("text")) >= 3
        assert with_class(svg, "legend")[0].findall("text")
        assert svg.findall(".//path")
    server = next(svg for svg in charts if child_text(svg, "title") == "Server CPU and memory")
    assert with_class(server, "y-axis-right"), "RSS gets its own axis"


def test_sold_out_marker_on_every_chart_when_the_run_sold_out() -> None:
    """GIVEN sold_out_at_s WHEN rendered THEN each chart marks that moment; GIVEN null
    THEN no chart does and the totals say it did not sell out."""
    root = parse(render_html(synthetic_report()))
    for svg in svgs(root):
        markers = with_class(svg, "sold-out-marker")
        assert len(markers) == 1
        assert text_of(markers[0]) == "sold out at 41.5 s"

    unsold = synthetic_report()
    unsold["sold_out_at_s"] = None
    root = parse(render_html(unsold))
    assert svgs(root)
    assert not with_class(root, "sold-out-marker")
    assert "did not sell out" in text_of(root)


def test_violations_are_listed_escaped_under_a_fail_badge() -> None:
    """GIVEN a failed audit whose violation text holds markup WHEN rendered THEN a FAIL
    badge, the violated invariant marked ✗ with its text escaped, the others ✓."""
    page = render_html(failed_report())

    assert "&lt;b&gt;orders&lt;/b&gt; o1 &amp; &quot;o2&quot;" in page
    assert "<b>" not in page
    root = parse(page)
    assert [text_of(badge) for badge in with_class(root, "badge")] == ["FAIL"]
    violated = with_class(root, "violated")
    assert len(violated) == 1
    assert text_of(violated[0]).startswith("✗single sale: 1 violation")
    assert 'seat A-1-1 sold twice: <b>orders</b> o1 & "o2"' in text_of(violated[0])
    assert [text_of(item) for item in with_class(root, "held")] == ["✓conservation"]


@pytest.mark.parametrize(
    ("audit", "verdict"),
    [
        ({"ok": True, "checked": ["single sale"], "violations": {}}, "PASS"),
        ({"ok": False, "checked": ["single sale"]}, "FAIL"),
        ({"ok": True, "violations": {"conservation": ["1 seat missing"]}}, "FAIL"),
        ({"ok": None}, "NOT AUDITED"),
        (None, "NOT AUDITED"),
    ],
)
def test_badge_follows_the_audit(audit: dict[str, Any] | None, verdict: str) -> None:
    report = synthetic_report()
    report["audit"] = audit
    root = parse(render_html(report))
    assert [text_of(badge) for badge in with_class(root, "badge")] == [verdict]


def test_summary_shows_totals_and_ratios() -> None:
    """GIVEN totals, ceiling, strategies, overload and fsync WHEN rendered THEN the tables
    show them, with each strategy's speed-up relative to the slowest."""
    root = parse(render_html(synthetic_report()))
    tables = {child_text(table, "caption"): table for table in root.iter("table")}

    def cells(caption_start: str) -> dict[str, list[str]]:
        table = next(t for caption, t in tables.items() if caption.startswith(caption_start))
        return {
            text_of(row[0]): [text_of(cell) for cell in row[1:]]
            for row in table.iter("tr")
            if row[0].tag == "th" and row[0].get("scope") == "row"
        }

    totals = cells("Totals")
    assert totals["OK"] == ["180,000 (72.0 % of requests)"]
    assert totals["Tickets sold"] == ["16,000 (100.0 % of capacity)"]
    assert totals["Sold out"] == ["41.5 s after opening"]
    assert cells("Throughput ceiling")["Hold attempts ÷ trivial"] == ["0.46"]
    best = cells("Throughput ceiling")["Best ÷ trivial within 100 ms at p99"]
    assert best == ["0.33 (16 connections, p99 40 ms)"]
    by_connections = cells("Holds by connections")
    assert by_connections["16 connections"] == [
        "3,000/s (0.33 × trivial), p99 40 ms; within 100 ms at p99"
    ]
    assert by_connections["64 connections"] == ["4,200/s (0.46 × trivial), p99 138 ms"]
    strategies = cells("Inventory strategies")
    assert strategies["claims (this run)"] == ["1,200", "4,200", "38", "410", "120", "4.0×"]
    assert strategies["seat-locks"][-1] == "1.0×"
    assert strategies["performance-lock"] == ["400", "900", "—", "—", "—", "1.3×"]
    assert cells("Overload")["Served"] == ["4,000 (4.4 % of offered)"]
    assert cells("Durability cost")["Sync off ÷ sync full"] == ["44.4×"]
    assert cells("Latency by endpoint")["pay"] == ["4", "6", "11", "48", "900"]


def test_a_latency_stall_cuts_the_axis_and_says_so() -> None:
    """GIVEN p99 near a second for the first three seconds and tens of ms after WHEN
    rendered THEN the latency axis stops well below the stall and notes the peak."""
    root = parse(render_html(synthetic_report()))
    latency = next(svg for svg in svgs(root) if child_text(svg, "title") == "Latency percentiles")
    notes = with_class(latency, "cut-note")
    assert len(notes) == 1
    assert text_of(notes[0]) == "axis cut at 150 ms; peak 1,287 ms"


def test_a_gap_in_the_samples_shows_as_a_gap() -> None:
    """GIVEN a row without latency in mid-run WHEN rendered THEN each latency line is drawn
    as two pieces rather than dipping to zero."""
    report = synthetic_report()
    for key in ("p50_ms", "p75_ms", "p90_ms", "p99_ms"):
        report["timeline"][60][key] = None
    root = parse(render_html(report))
    latency = next(svg for svg in svgs(root) if child_text(svg, "title") == "Latency percentiles")
    lines = with_class(latency, "lines")[0].findall("path")
    assert len(lines) == 4
    assert all((line.get("d") or "").count("M") == 2 for line in lines)


def test_charts_without_their_columns_are_replaced_by_a_note() -> None:
    """GIVEN a timeline of request counts only WHEN rendered THEN the requests chart alone,
    and a note for each chart that has no data."""
    report = synthetic_report()
    report["timeline"] = [{"t": t, "requests": 100 + t} for t in range(30)]
    root = parse(render_html(report))
    assert [child_text(svg, "title") for svg in svgs(root)] == ["Requests per second by outcome"]
    assert len(with_class(root, "no-data")) == 4
    assert "unclassified" in text_of(with_class(root, "legend")[0])


PARTIAL_REPORTS: list[Any] = [
    {"title": "x"},
    {},
    dict.fromkeys(synthetic_report()),
    {
        "title": None,
        "seats": "many",
        "timeline": [None, "row", {"t": "soon"}, {"t": 5}, {"t": True, "requests": 3}],
        "totals": [1, 2],
        "latency_ms": {"hold": None, "pay": {"p50": "fast"}},
        "strategies": [None, "claims", {"strategy": None, "holds_per_s": 0}],
        "ceiling": {"trivial_rps": 0, "hold_attempts_rps": 10},
        "audit": {"ok": "yes", "checked": "single sale", "violations": {"x": "one string"}},
    },
    {"timeline": [{"t": 0, "requests": 0, "ok": 0, "p99_ms": 0, "sold": 0}], "sold_out_at_s": 0},
    {
        "timeline": [
            {"t": t, "p50_ms": math.nan, "p99_ms": math.inf, "sold": 10**400, "cpu_percent": -5}
            for t in range(3)
        ],
        "sold_out_at_s": 500,
    },
    {
        "timeline": [
            {"t": 1e300, "requests": 1},
            {"t": 0, "requests": 1e300, "ok": -1e300, "p99_ms": 5e-324, "sold": 1e-320},
            {"t": 1e-12, "p99_ms": 5e-324, "sold": 1e-320, "rss_mib": 1e14},
        ],
        "sold_out_at_s": -1e300,
    },
]


@pytest.mark.parametrize("report", PARTIAL_REPORTS)
def test_partial_or_malformed_reports_still_render(report: Any, tmp_path: Path) -> None:
    """GIVEN a report with missing, null or oddly typed parts WHEN written THEN a
    well-formed page with a title, a header and the sections, and no crash."""
    path = tmp_path / "out" / "report.html"
    write_html(copy.deepcopy(report), path)
    page = path.read_text(encoding="utf-8")
    assert page == render_html(report)

    root = parse(page)
    assert child_text(root, "head/title").strip()
    assert root.find("body/header/div/h1") is not None
    assert {section.get("id") for section in root.iter("section")} == {
        "summary",
        "charts",
        "audit",
    }
    assert len(with_class(root, "badge")) == 1
    if report == {"title": "x"}:
        assert child_text(root, "body/header/div/h1") == "x"
        assert not svgs(root)
        assert text_of(with_class(root, "badge")[0]) == "NOT AUDITED"
