"""Rebuild the silence, iceberg, at-risk, trend and driver tables from the stored predictions."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from mining.analysis import metrics
from mining.analysis.config import AnalysisConfig
from mining.analysis.silence import assess_silence, link_feedback_to_complaints
from mining.store.db import Store
from mining.taxonomy import Taxonomy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysisCounts:
    feedback: int
    complaints: int
    linked: int
    silent: int
    iceberg_rows: int


def _lists(column: pd.Series) -> pd.Series:
    return column.map(lambda v: [] if v is None else [str(x) for x in v])


def complaint_facts(complaints: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """Failure types (model ∪ category map), recovery outcome and SLA target per complaint."""
    model_types = _lists(complaints["failure_types"])
    mapped = complaints["category"].map(config.complaint_categories)
    types = [sorted(set(t) | ({m} if isinstance(m, str) else set()))
             for t, m in zip(model_types, mapped, strict=True)]
    resolved_at = pd.to_datetime(complaints["resolved_at"])
    status = complaints["status"].fillna("").str.lower()
    resolved = resolved_at.notna() | status.isin(["resolved", "closed"])
    hours = (resolved_at - pd.to_datetime(complaints["created_at"])).dt.total_seconds() / 3600
    quick = resolved & (hours <= config.quick_resolution_hours).fillna(False)
    outcome = np.select([quick, resolved], ["resolved_quickly", "resolved"],
                        "complained_unresolved")
    sla = config.sla
    is_complex = (complaints["category"].isin(sla.complex_categories).to_numpy()
                  | np.array([len(t) >= sla.complex_if_failure_types_at_least for t in types],
                             dtype=bool))
    return pd.DataFrame({
        "complaint_id": complaints["complaint_id"], "site": complaints["site"],
        "created_at": pd.to_datetime(complaints["created_at"]),
        "customer_id": complaints["customer_id"], "status": complaints["status"],
        "resolved_at": resolved_at, "category": complaints["category"],
        "failure_types": types, "outcome": outcome, "is_complex": is_complex,
        "sla_target_days": np.where(is_complex, sla.complex_days, sla.simple_days).astype(float),
    })


def _week(created_at: pd.Series) -> pd.Series:
    return metrics.period_start(pd.to_datetime(created_at), "week").dt.date


def _explode_types(frame: pd.DataFrame, column: str = "failure_types") -> pd.DataFrame:
    out = frame.assign(failure_type=frame[column].map(lambda t: list(t) or ["none"]))
    return out.explode("failure_type")


def build_tables(feedback: pd.DataFrame, complaints: pd.DataFrame, taxonomy: Taxonomy,
                 config: AnalysisConfig) -> dict[str, pd.DataFrame]:
    """Every derived table, from classified feedback and complaints (pure)."""
    feedback = feedback.assign(
        failure_types=_lists(feedback["failure_types"]), responses=_lists(feedback["responses"]),
        response_scores=feedback["response_scores"].map(json.loads),
        created_at=pd.to_datetime(feedback["created_at"]))
    facts = complaint_facts(complaints, config)
    links = link_feedback_to_complaints(
        feedback[["item_id", "site", "created_at", "customer_id", "failure_types"]],
        facts.rename(columns={"complaint_id": "item_id"})[
            ["item_id", "site", "created_at", "customer_id", "failure_types"]],
        config.linking)
    silence = assess_silence(feedback, links, config)
    link_info = links.set_index("feedback_id")
    silence["link_method"] = silence["item_id"].map(link_info["method"])
    silence["hours_apart"] = silence["item_id"].map(link_info["hours_apart"]).astype(float)

    def root_causes(types: list[str]) -> list[str]:
        return [taxonomy.root_cause_of(t) if t in taxonomy.failure_types else "unknown"
                for t in types]

    def root_cause_of(failure_type: str) -> str:
        return "none" if failure_type == "none" else root_causes([failure_type])[0]

    trend_parts, cause_parts = [], []
    for period in ("day", "week"):
        by_type = metrics.period_trends(feedback, lambda t: t, period)
        trend_parts.append(by_type.rename(columns={"category": "failure_type"}))
        by_cause = metrics.period_trends(feedback, root_causes, period)
        cause_parts.append(by_cause.rename(columns={"category": "root_cause"}))
    type_trends = pd.concat(trend_parts, ignore_index=True)
    type_trends["root_cause"] = type_trends["failure_type"].map(root_cause_of)

    with_silence = feedback.merge(silence, on="item_id")
    silent = _explode_types(with_silence[with_silence["silent"]]).assign(
        week=lambda f: _week(f["created_at"]))
    complaint_rows = _explode_types(facts).assign(week=lambda f: _week(f["created_at"]))
    iceberg = metrics.iceberg(silent[["week", "site", "failure_type", "item_id"]],
                              complaint_rows[["week", "site", "failure_type", "complaint_id"]])

    customer = silent["customer_id"].where(silent["customer_id"].notna(), silent["item_id"])
    text_voiced = _explode_types(with_silence[(with_silence["voice_source"] == "text")
                                              & (with_silence["sentiment"] == "negative")])
    outcomes = pd.concat([
        pd.DataFrame({"site": silent["site"], "failure_type": silent["failure_type"],
                      "customer": customer, "outcome": "silent"}),
        # Said they complained, but no ticket shows how it ended: counted as unresolved.
        pd.DataFrame({"site": text_voiced["site"], "failure_type": text_voiced["failure_type"],
                      "customer": text_voiced["customer_id"].where(
                          text_voiced["customer_id"].notna(), text_voiced["item_id"]),
                      "outcome": "complained_unresolved"}),
        pd.DataFrame({"site": complaint_rows["site"],
                      "failure_type": complaint_rows["failure_type"],
                      "customer": complaint_rows["customer_id"].where(
                          complaint_rows["customer_id"].notna(), complaint_rows["complaint_id"]),
                      "outcome": complaint_rows["outcome"]}),
    ], ignore_index=True)
    at_risk = metrics.customers_at_risk(outcomes, config.repurchase_rates)

    return {
        "complaint_facts": facts,
        "feedback_silence": silence,
        "failure_type_trends": type_trends,
        "root_cause_trends": pd.concat(cause_parts, ignore_index=True),
        "iceberg_weekly": iceberg,
        "customers_at_risk": at_risk,
        "drivers": metrics.drivers(feedback),
        "analysis_assumptions": assumptions(config),
    }


def assumptions(config: AnalysisConfig) -> pd.DataFrame:
    """The configured assumptions, flattened, so every figure can show what it rests on."""
    flat = pd.json_normalize(config.model_dump(), sep=".").iloc[0].to_dict()
    return pd.DataFrame({
        "name": list(flat), "value": [json.dumps(v) for v in flat.values()],
        "note": "config/analysis.yaml",
    })


def refresh_analysis(store: Store, taxonomy: Taxonomy, config: AnalysisConfig) -> AnalysisCounts:
    """Recompute every derived table in one transaction (readers never see a half state)."""
    feedback = store.query("analysis_feedback").to_pandas()
    complaints = store.query("analysis_complaints").to_pandas()
    tables = build_tables(feedback, complaints, taxonomy, config)
    with store.transaction():
        for name, frame in tables.items():
            store.replace_rows(name, pa.Table.from_pandas(frame, preserve_index=False))
    silence = tables["feedback_silence"]
    counts = AnalysisCounts(
        feedback=len(feedback), complaints=len(complaints),
        linked=int(silence["complaint_id"].notna().sum()), silent=int(silence["silent"].sum()),
        iceberg_rows=len(tables["iceberg_weekly"]))
    log.info("analysis: %s", counts)
    return counts
