"""The service-failure taxonomy, read from an editable YAML file."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, model_validator


class FailureType(BaseModel):
    root_cause: str
    description: str = ""


class Taxonomy(BaseModel):
    root_causes: dict[str, str]
    failure_types: dict[str, FailureType]
    sentiments: list[str]
    responses: dict[str, str]

    @model_validator(mode="after")
    def _root_causes_exist(self) -> Taxonomy:
        unknown = {
            f"{name} -> {ft.root_cause}"
            for name, ft in self.failure_types.items()
            if ft.root_cause not in self.root_causes
        }
        if unknown:
            raise ValueError(f"failure types map to unknown root causes: {sorted(unknown)}")
        return self

    @property
    def failure_type_ids(self) -> list[str]:
        return list(self.failure_types)

    @property
    def response_ids(self) -> list[str]:
        return list(self.responses)

    def root_cause_of(self, failure_type: str) -> str:
        return self.failure_types[failure_type].root_cause

    @classmethod
    def load(cls, path: Path) -> Taxonomy:
        if not path.exists():
            raise FileNotFoundError(f"taxonomy file not found: {path}")
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
