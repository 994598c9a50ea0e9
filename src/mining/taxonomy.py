"""The service-failure taxonomy, read from an editable YAML file: the one list of failure types,
root causes, sentiments and responses that training, evaluation, the views and the report read.

Built-in types are learnt by the fine-tuned model; custom types (`kind: custom`) are heads a
business adds from examples on the model's pooled features. An `aliases:` list keeps old ids
(renamed or merged types) readable without retraining.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, model_validator


class TaxonomyMismatch(ValueError):
    """A model's labels and the taxonomy disagree (names the ids)."""


class FailureType(BaseModel):
    root_cause: str
    description: str = ""
    kind: Literal["builtin", "custom"] = "builtin"
    aliases: list[str] = Field(default_factory=list)
    # Custom types: the CSV of examples (columns text,label), relative to the taxonomy file.
    examples: str | None = None
    # Custom types switched off by `mining types remove` keep their entry and examples.
    enabled: bool = True


class Taxonomy(BaseModel):
    root_causes: dict[str, str]
    failure_types: dict[str, FailureType]
    sentiments: list[str]
    responses: dict[str, str]
    # Where the file was read from: custom examples paths are relative to its folder.
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        unknown = {
            f"{name} -> {ft.root_cause}"
            for name, ft in self.failure_types.items()
            if ft.root_cause not in self.root_causes
        }
        if unknown:
            raise ValueError(f"failure types map to unknown root causes: {sorted(unknown)}")
        seen: dict[str, str] = {}
        for name, ft in self.failure_types.items():
            for alias in ft.aliases:
                if alias in self.failure_types:
                    raise ValueError(f"alias {alias!r} of {name!r} is itself a failure type id")
                if alias in seen:
                    raise ValueError(f"alias {alias!r} is given by both {seen[alias]!r} and "
                                     f"{name!r}")
                seen[alias] = name
            if ft.kind == "custom" and not ft.examples:
                raise ValueError(f"custom failure type {name!r} needs `examples:` (a CSV path)")
            if ft.kind == "builtin" and not ft.enabled:
                raise ValueError(f"built-in failure type {name!r} cannot be disabled; "
                                 "the model predicts it")
        return self

    @property
    def failure_type_ids(self) -> list[str]:
        """Every enabled type, built-in first (the model's order), then custom."""
        return self.builtin_failure_type_ids + list(self.custom_failure_types)

    @property
    def builtin_failure_type_ids(self) -> list[str]:
        return [n for n, ft in self.failure_types.items() if ft.kind == "builtin"]

    @property
    def custom_failure_types(self) -> dict[str, FailureType]:
        """Enabled custom types."""
        return {n: ft for n, ft in self.failure_types.items()
                if ft.kind == "custom" and ft.enabled}

    @property
    def response_ids(self) -> list[str]:
        return list(self.responses)

    @property
    def aliases(self) -> dict[str, str]:
        """Old id -> current id (a disabled custom type's old ids lead nowhere)."""
        return {alias: name for name, ft in self.failure_types.items() if ft.enabled
                for alias in ft.aliases}

    def canonical(self, failure_type: str) -> str:
        """The current id of a type id or an alias; an unknown id is returned as it is."""
        return self.aliases.get(failure_type, failure_type)

    def current_labels(self, types: Sequence[str], scores: Mapping[str, float]
                       ) -> tuple[list[str], dict[str, float]]:
        """Predicted types and scores under current ids: an alias becomes its type, and types
        merged into one keep the highest score."""
        current = list(dict.fromkeys(self.canonical(t) for t in types))
        merged: dict[str, float] = {}
        for label, score in scores.items():
            key = self.canonical(label)
            merged[key] = max(score, merged.get(key, score))
        return current, merged

    def root_cause_of(self, failure_type: str) -> str:
        return self.failure_types[self.canonical(failure_type)].root_cause

    def examples_path(self, failure_type: str) -> Path:
        ft = self.failure_types[failure_type]
        if not ft.examples:
            raise ValueError(f"{failure_type!r} has no examples file")
        path = Path(ft.examples)
        if not path.is_absolute() and self.source is not None:
            path = self.source.parent / path
        return path

    def model_label_map(self, model_failure_types: Sequence[str], model_responses: Sequence[str],
                        model_sentiments: Sequence[str], model: str = "the model") -> list[str]:
        """The current id of each of a model's failure labels, in the model's order.

        Raises TaxonomyMismatch naming every id that does not match: a model label that is
        neither a type nor an alias, a built-in type the model does not predict, or different
        responses or sentiments.
        """
        problems = []
        unknown = [t for t in model_failure_types
                   if t not in self.failure_types and t not in self.aliases]
        if unknown:
            problems.append(f"{model} predicts failure types the taxonomy does not have "
                            f"(neither ids nor aliases): {', '.join(unknown)}")
        mapped = [self.canonical(t) for t in model_failure_types]
        custom_in_model = [t for t in mapped if t in self.failure_types
                           and self.failure_types[t].kind == "custom"]
        if custom_in_model:
            problems.append(f"{model} predicts {', '.join(custom_in_model)}, which the taxonomy "
                            "lists as custom: mark them `kind: builtin`")
        missing = [t for t in self.builtin_failure_type_ids if t not in mapped]
        if missing:
            problems.append(f"the taxonomy has built-in failure types {model} does not predict: "
                            f"{', '.join(missing)} (retrain, or make them aliases of a type it "
                            "predicts)")
        if list(model_responses) != self.response_ids:
            problems.append(f"{model} has responses {list(model_responses)}, the taxonomy "
                            f"{self.response_ids}")
        if list(model_sentiments) != self.sentiments:
            problems.append(f"{model} has sentiments {list(model_sentiments)}, the taxonomy "
                            f"{self.sentiments}")
        if problems:
            raise TaxonomyMismatch("; ".join(problems))
        return mapped

    @classmethod
    def load(cls, path: Path) -> Taxonomy:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"taxonomy file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ValueError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ValueError(f"{path} must hold a mapping with failure_types, root_causes, ...")
        taxonomy = cls.model_validate(raw)
        taxonomy.source = path
        return taxonomy


def _round_trip() -> Any:
    from ruamel.yaml import YAML

    yaml_rt = YAML()  # round-trip: comments, order and quoting survive an edit
    yaml_rt.preserve_quotes = True
    yaml_rt.width = 4096
    yaml_rt.indent(mapping=2, sequence=4, offset=2)
    return yaml_rt


def _edit_failure_types(path: Path, edit: Callable[[Any], None]) -> Taxonomy:
    """Apply `edit` to the file's failure_types mapping, keeping its comments; the result must
    load as a taxonomy, else the file is left as it was."""
    original = path.read_text(encoding="utf-8")
    yaml_rt = _round_trip()
    data = yaml_rt.load(original)
    edit(data["failure_types"])
    out = io.StringIO()
    yaml_rt.dump(data, out)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(out.getvalue(), encoding="utf-8")
    try:
        Taxonomy.load(temporary)
    except (ValueError, TypeError):
        temporary.unlink(missing_ok=True)
        raise
    temporary.replace(path)  # readers see the old file or the new one, never half
    return Taxonomy.load(path)


def write_custom_type(path: Path, failure_type: str, root_cause: str, description: str,
                      examples: str) -> Taxonomy:
    """Add (or replace, enabled) a custom type's entry in the taxonomy file."""
    from ruamel.yaml.comments import CommentedMap

    def edit(types: Any) -> None:
        if failure_type in types:  # a disabled type added again keeps its other keys (aliases)
            entry = types[failure_type]
            entry.pop("enabled", None)
        else:
            entry = CommentedMap()
            types.insert(len(types), failure_type, entry)
        entry["root_cause"] = root_cause
        entry["description"] = description
        entry["kind"] = "custom"
        entry["examples"] = examples

    return _edit_failure_types(path, edit)


def set_custom_enabled(path: Path, failure_type: str, enabled: bool) -> Taxonomy:
    def edit(types: Any) -> None:
        types[failure_type]["enabled"] = enabled

    return _edit_failure_types(path, edit)
