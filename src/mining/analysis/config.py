"""Typed analysis assumptions, loaded from `config/analysis.yaml`."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkingConfig(_Strict):
    window_hours: float = Field(72, gt=0)
    require_failure_type_match: bool = True


class SilentScoreWeights(_Strict):
    negativity: float = Field(0.5, ge=0, le=1)
    exit: float = Field(0.8, ge=0, le=1)
    word_of_mouth: float = Field(0.6, ge=0, le=1)
    third_party: float = Field(0.9, ge=0, le=1)
    polite_silence: float = Field(0.7, ge=0, le=1)


class SilentScoreConfig(_Strict):
    weights: SilentScoreWeights = SilentScoreWeights()


class PoliteSilenceConfig(_Strict):
    rating_scale_max: float = Field(5, gt=0)
    satisfied_at_or_above: float = 4

    @model_validator(mode="after")
    def _threshold_on_scale(self) -> PoliteSilenceConfig:
        if not 0 < self.satisfied_at_or_above <= self.rating_scale_max:
            raise ValueError("satisfied_at_or_above must lie on the rating scale")
        return self


class RepurchaseRates(_Strict):
    silent: float = Field(0.09, ge=0, le=1)
    complained_unresolved: float = Field(0.19, ge=0, le=1)
    resolved: float = Field(0.54, ge=0, le=1)
    resolved_quickly: float = Field(0.82, ge=0, le=1)


class SlaConfig(_Strict):
    simple_days: float = Field(3, gt=0)
    complex_days: float = Field(7, gt=0)
    complex_categories: list[str] = []
    complex_if_failure_types_at_least: int = Field(2, ge=1)


class ThemesConfig(_Strict):
    """Emerging problems: clusters of recent negative items that no failure type covers."""

    window_days: float = Field(7, gt=0)
    min_size: int = Field(10, ge=2)
    distance_threshold: float = Field(0.3, gt=0, lt=2)
    match_threshold: float = Field(0.8, gt=0, le=1)
    keywords: int = Field(8, ge=1)
    examples: int = Field(3, ge=1)
    max_items: int = Field(5000, ge=2)


class AnalysisConfig(_Strict):
    linking: LinkingConfig = LinkingConfig()
    silent_score: SilentScoreConfig = SilentScoreConfig()
    polite_silence: PoliteSilenceConfig = PoliteSilenceConfig()
    repurchase_rates: RepurchaseRates = RepurchaseRates()
    quick_resolution_hours: float = Field(24, gt=0)
    sla: SlaConfig = SlaConfig()
    complaint_categories: dict[str, str] = {}
    themes: ThemesConfig = ThemesConfig()

    @classmethod
    def load(cls, path: Path) -> AnalysisConfig:
        if not path.is_file():
            raise FileNotFoundError(f"analysis config not found: {path}")
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
