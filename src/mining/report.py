"""`mining report`: one self-contained HTML file of charts, each with the numbers behind it.

Plotly draws the charts; its JavaScript is embedded once, so the file opens with no internet.
Rendering is pure (frames in, HTML out); reading goes through the store module.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.io import to_html
from plotly.offline import get_plotlyjs

from mining.analysis.metrics import iceberg_label
from mining.analysis.themes import report_table as themes_report_table
from mining.classify.explain import highlight_html, spans_from_json
from mining.store.db import read_named_queries

QUERIES = ("report_overview", "report_trends", "report_root_causes", "report_iceberg",
           "report_silent_items", "report_drivers", "report_sla", "report_at_risk",
           "report_themes")


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    explain: str
    figure: go.Figure | None
    table: pd.DataFrame
    empty_note: str = "Nothing to show for this selection."


def load_frames(db: Path, since: date | None, site: str | None) -> dict[str, pd.DataFrame]:
    return read_named_queries(db, QUERIES, [site, since])


def _layout(fig: go.Figure, y_title: str) -> go.Figure:
    fig.update_layout(template="plotly_white", height=420, margin={"l": 60, "r": 20, "t": 30,
                                                                  "b": 60},
                      yaxis_title=y_title, legend={"orientation": "h", "y": -0.2})
    return fig


def trend_figure(trends: pd.DataFrame) -> go.Figure | None:
    if trends.empty:
        return None
    fig = go.Figure()
    for failure_type, rows in trends.groupby("failure_type", sort=True):
        fig.add_trace(go.Scatter(x=rows["day"], y=rows["negative_items"], mode="lines+markers",
                                 name=str(failure_type)))
    return _layout(fig, "negative items per day")


def root_cause_figure(causes: pd.DataFrame) -> go.Figure | None:
    if causes.empty:
        return None
    fig = go.Figure()
    for cause, rows in causes.groupby("root_cause", sort=True):
        fig.add_trace(go.Scatter(
            x=rows["week"], y=rows["negative_share"] * 100, mode="lines+markers", name=str(cause),
            error_y={"type": "data", "symmetric": False,
                     "array": (rows["ci_high"] - rows["negative_share"]) * 100,
                     "arrayminus": (rows["negative_share"] - rows["ci_low"]) * 100}))
    return _layout(fig, "negative share of feedback, % (95% Wilson interval)")


def iceberg_figure(iceberg: pd.DataFrame) -> go.Figure | None:
    if iceberg.empty:
        return None
    by_site = iceberg.groupby("site", as_index=False)[["silent_items", "complaints"]].sum()
    fig = go.Figure([
        go.Bar(x=by_site["site"], y=by_site["silent_items"], name="silent negative items"),
        go.Bar(x=by_site["site"], y=by_site["complaints"], name="formal complaints"),
    ])
    fig.update_layout(barmode="group")
    return _layout(fig, "items (per item and failure type)")


def drivers_figure(drivers: pd.DataFrame) -> go.Figure | None:
    if drivers.empty:
        return None
    top = drivers.head(10).iloc[::-1]
    fig = go.Figure(go.Bar(x=top["negativity_points"], y=top["failure_type"], orientation="h",
                           name="points of negative share"))
    return _layout(fig, "").update_layout(
        xaxis_title="fall in negative share (points) if the type were absent")


def sla_figure(sla: pd.DataFrame) -> go.Figure | None:
    if sla.empty:
        return None
    counts = sla.groupby(["site", "is_complex"]).size().unstack(fill_value=0)
    fig = go.Figure([go.Bar(x=counts.index, y=counts[col], name="complex" if col else "simple")
                     for col in counts.columns])
    fig.update_layout(barmode="stack")
    return _layout(fig, "open complaints past target")


def at_risk_figure(at_risk: pd.DataFrame) -> go.Figure | None:
    if at_risk.empty:
        return None
    by_site = at_risk.groupby("site", as_index=False)["expected_lost"].sum()
    fig = go.Figure(go.Bar(x=by_site["site"], y=by_site["expected_lost"],
                           name="expected lost customers"))
    return _layout(fig, "expected lost customers")


@dataclass(frozen=True)
class Html:
    """A table cell that is HTML already (escaped text with <mark>): not escaped again."""

    markup: str


def _cell(value: object) -> object:
    if isinstance(value, Html):
        return value.markup
    if isinstance(value, list | tuple | np.ndarray):
        value = ", ".join(map(str, value))
    return html.escape(value) if isinstance(value, str) else value


def _table_html(frame: pd.DataFrame, max_rows: int = 40) -> str:
    shown = frame.head(max_rows).map(_cell)
    shown.columns = [html.escape(str(c)) for c in shown.columns]
    note = (f"<p class='note'>First {max_rows} of {len(frame)} rows.</p>"
            if len(frame) > max_rows else "")
    return shown.to_html(index=False, escape=False, na_rep="—", classes="numbers",
                         float_format=lambda v: f"{v:,.3f}") + note


def silent_items_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The silent items with the words behind each one's top failure type marked."""
    marked = [Html(highlight_html(str(text), spans_from_json(spans), f"drove {why}"))
              if isinstance(spans, str) else text
              for text, spans, why in zip(frame["text"], frame["why_spans"], frame["why_type"],
                                          strict=True)]
    return frame.drop(columns=["item_id", "why_type", "why_spans"]).assign(text=marked)


def build_sections(frames: dict[str, pd.DataFrame]) -> list[Section]:
    iceberg = frames["report_iceberg"].copy()
    iceberg["label"] = [iceberg_label(int(s), int(c)) for s, c in
                        zip(iceberg["silent_items"], iceberg["complaints"], strict=True)]
    at_risk_explain = (
        "Expected lost customers = Σ dissatisfied customers × (1 − repurchase rate of their "
        "recovery outcome). The rates are configurable assumptions (config/analysis.yaml), "
        "shown in the last columns; the figure is an estimate, not a count.")
    return [
        Section("trends", "Negative feedback per failure type, per day",
                "Negative items per failure type and day (one item may name several types).",
                trend_figure(frames["report_trends"]), frames["report_trends"]),
        Section("root-causes", "Root causes: weekly negative share",
                "Share of all feedback that is negative and caused by the root cause, with a 95% "
                "Wilson interval, and the change against the previous week.",
                root_cause_figure(frames["report_root_causes"]), frames["report_root_causes"]),
        Section("iceberg", "Complaint iceberg by site",
                "Silent negative items (no complaint linked, no voice in the text) against formal "
                "complaints. Where there were no complaints the ratio reads 'no complaints'.",
                iceberg_figure(iceberg), iceberg),
        Section("silent", "Top silent items",
                "Negative feedback that never reached the business, most clearly silent first "
                "(texts are redacted before storage). Marked words drove the item's top failure "
                "type: deleting them lowers the model's score for it the most.", None,
                silent_items_table(frames["report_silent_items"])),
        Section("drivers", "Drivers of negativity",
                "How far the negative share would fall if each type's items were absent. It "
                "measures association in the text, not cause: types that co-occur share credit.",
                drivers_figure(frames["report_drivers"]), frames["report_drivers"]),
        Section("sla", "Complaint SLA breaches",
                "Open complaints older than their response target (simple or complex).",
                sla_figure(frames["report_sla"]), frames["report_sla"],
                empty_note="No open complaint is past its target."),
        Section("at-risk", "Customers at risk", at_risk_explain,
                at_risk_figure(frames["report_at_risk"]), frames["report_at_risk"]),
        Section("themes", "Problems no type names yet",
                "Clusters of the last window's negative feedback that no failure type covers "
                "(none, or only 'other'), found by the newest run: keywords by class-based "
                "TF-IDF, the examples nearest each cluster's centre, and growth against the "
                "window before. `mining types add ID --from-theme THEME` turns one into a type.",
                None, themes_report_table(frames["report_themes"]),
                empty_note="No cluster of uncovered negative feedback is large enough."),
    ]


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} h2{margin-top:2.5rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.meta,.note{color:#666;font-size:.9rem} nav a{margin-right:1rem}
table.numbers{border-collapse:collapse;font-size:.85rem;margin-top:.5rem;width:100%}
table.numbers th,table.numbers td{border:1px solid #e3e3e3;padding:.25rem .45rem;text-align:left;
vertical-align:top} table.numbers th{background:#f6f6f6}
details{margin-top:.5rem} .kpis{display:flex;gap:1.5rem;flex-wrap:wrap}
.kpi{background:#f6f8fa;border-radius:6px;padding:.6rem 1rem}.kpi b{display:block;font-size:1.4rem}
"""


def render_html(frames: dict[str, pd.DataFrame], *, since: date | None, site: str | None,
                generated_at: datetime | None = None) -> str:
    """The whole report as one HTML string (plotly.js embedded once)."""
    generated = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    overview = frames["report_overview"].iloc[0] if len(frames["report_overview"]) else None
    scope = f"site {html.escape(site)}" if site else "all sites"
    scope += f", since {since.isoformat()}" if since else ", all dates"
    kpis = ""
    if overview is not None:
        names = {"feedback_items": "feedback items", "negative_items": "negative",
                 "silent_items": "silent negative", "voiced_negative_items": "voiced negative"}
        kpis = "".join(f"<div class='kpi'><b>{int(overview[k] or 0):,}</b>{v}</div>"
                       for k, v in names.items())
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Service-failure radar report</title>",
        f"<style>{CSS}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        "<h1>Service-failure radar</h1>",
        f"<p class='meta'>{scope}; generated {generated}; model "
        f"{html.escape(str(overview['model_version'])) if overview is not None else '—'}</p>",
        f"<div class='kpis'>{kpis}</div>",
    ]
    sections = build_sections(frames)
    parts.append("<nav>" + "".join(f"<a href='#{s.anchor}'>{html.escape(s.title)}</a>"
                                   for s in sections) + "</nav>")
    for section in sections:
        parts.append(f"<section id='{section.anchor}'><h2>{html.escape(section.title)}</h2>")
        parts.append(f"<p>{html.escape(section.explain)}</p>")
        if section.table.empty:
            parts.append(f"<p class='note empty'>{html.escape(section.empty_note)}</p>")
        else:
            if section.figure is not None:
                parts.append(to_html(section.figure, include_plotlyjs=False, full_html=False,
                                     div_id=f"chart-{section.anchor}",
                                     config={"displaylogo": False, "responsive": True}))
            label = "The numbers behind the chart" if section.figure is not None else "Items"
            opened = "" if section.figure is not None else " open"
            parts.append(f"<details{opened}><summary>{label}</summary>"
                         f"{_table_html(section.table)}</details>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(db: Path, out: Path, *, since: date | None = None,
                 site: str | None = None) -> Path:
    html_text = render_html(load_frames(db, since, site), since=since, site=site)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(html_text, encoding="utf-8")
    partial.replace(out)
    return out
