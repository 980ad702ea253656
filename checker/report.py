"""The check's HTML page: the summary, the violations, and a timeline of every operation
(one row per client, a bar from invocation to answer) with the faults shaded behind it."""

from __future__ import annotations

import html
import re
from pathlib import Path

from checker.history import History

COLOURS = {"ok": "#2e7d32", "fail": "#9e9e9e", "unknown": "#ef6c00", None: "#000"}
WIDTH, ROW = 1400, 9


def write(path: Path, history: History, results: dict[str, list[str]], title: str) -> None:
    ops = [op for op in history.ops if op.client >= 0]
    if not ops:
        path.write_text(f"<h1>{html.escape(title)}</h1><p>no operations</p>")
        return
    start = min(op.invoked for op in ops)
    end = max((op.completed or op.invoked) for op in ops)
    span = max(end - start, 1e-3)

    def x(t: float) -> float:
        return 60 + (t - start) / span * (WIDTH - 80)

    flagged = {
        int(n) for found in results.values() for line in found for n in re.findall(r"#(\d+) ", line)
    }
    clients = sorted({op.client for op in ops})
    row_of = {c: i for i, c in enumerate(clients)}
    height = 30 + ROW * len(clients) + 20
    shapes = []
    for fault in history.faults:
        left, right = x(fault.started), x(fault.ended or end)
        shapes.append(
            f'<rect x="{left:.1f}" y="10" width="{max(right - left, 2):.1f}" height="{height - 30}"'
            f' fill="#fde0dc"><title>{html.escape(fault.kind)} {html.escape(fault.detail)}</title>'
            "</rect>"
        )
    for op in ops:
        y = 20 + row_of[op.client] * ROW
        colour = "#d50000" if op.id in flagged else COLOURS[op.outcome]
        width = 3 if op.id in flagged else 2
        label = html.escape(f"#{op.id} {op.kind} {op.body} → {op.status} {op.outcome}")
        shapes.append(
            f'<line x1="{x(op.invoked):.1f}" x2="{x(op.completed or end):.1f}" y1="{y}" y2="{y}"'
            f' stroke="{colour}" stroke-width="{width}"><title>{label}</title></line>'
        )
    for second in range(int(span) + 1):
        shapes.append(
            f'<text x="{x(start + second):.1f}" y="{height - 4}" font-size="9">{second}s</text>'
        )
    total = sum(len(found) for found in results.values())
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{len(found)}</td></tr>"
        for name, found in results.items()
    )
    listed = "".join(
        f"<li><b>{html.escape(name)}</b>: {html.escape(line)}</li>"
        for name, found in results.items()
        for line in found[:20]
    )
    path.write_text(
        f"""<!doctype html><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font:14px system-ui;margin:24px}}td{{padding:2px 12px}}</style>
<h1>{html.escape(title)}</h1>
<p>{len(ops)} operations, {len(history.faults)} faults, <b>{total} violations</b>.
Green: acknowledged; grey: refused; orange: unknown (no answer or 5xx); red: named by a
violation. Shaded: a fault in progress.</p>
<table>{rows}</table><ul>{listed}</ul>
<svg width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">{"".join(shapes)}</svg>
"""
    )
