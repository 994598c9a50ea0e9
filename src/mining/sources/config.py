"""Source configuration: where rows come from and how their columns map to the internal record."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

ItemKind = Literal["feedback", "complaint"]


class ColumnMapping(BaseModel):
    """Maps an export's column names onto the internal record; `*_value` gives a constant."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    created_at: str
    created_at_formats: list[str] = Field(
        default_factory=list,
        description="strptime formats tried in order; ISO 8601 is always tried last.",
    )
    site: str | None = None
    site_value: str | None = None
    channel: str | None = None
    channel_value: str | None = None
    rating: str | None = None
    customer_id: str | None = None
    external_id: str | None = None
    status: str | None = None
    resolved_at: str | None = None
    category: str | None = None

    @model_validator(mode="after")
    def _site_given(self) -> ColumnMapping:
        if not self.site and not self.site_value:
            raise ValueError("mapping needs `site` (a column) or `site_value` (a constant)")
        return self


class _SourceBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: ItemKind
    mapping: ColumnMapping
    require_text: bool = Field(
        True, description="Rows with no text go to quarantine; complaints may set this false."
    )


class FolderSourceConfig(_SourceBase):
    type: Literal["folder"] = "folder"
    path: Path
    patterns: list[str] = Field(default_factory=lambda: ["*.csv", "*.jsonl", "*.parquet"])
    csv_delimiter: str = ","


class HttpSourceConfig(_SourceBase):
    type: Literal["http"] = "http"
    url: str
    items_field: str = "items"
    cursor_field: str = Field("updated_at", description="Item field that orders items in time.")
    since_param: str = "since"
    page_param: str = "page"
    page_size_param: str = "page_size"
    page_size: int = Field(100, ge=1)
    timeout_seconds: float = 30.0
    retries: int = Field(3, ge=0)
    headers: dict[str, str] = Field(default_factory=dict)


class SqlSourceConfig(_SourceBase):
    type: Literal["sql"] = "sql"
    url: str = Field(description="SQLAlchemy URL, e.g. sqlite:///path/to/db.sqlite")
    table: str | None = None
    watermark_column: str
    query: str | None = Field(
        None, description="Custom SELECT with a `:since` parameter; overrides `table`."
    )
    initial_since: str = "0001-01-01 00:00:00"
    fetch_rows: int = Field(5000, ge=1)

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSourceConfig:
        if not self.table and not self.query:
            raise ValueError("sql source needs `table` or `query`")
        return self


SourceConfig = Annotated[
    FolderSourceConfig | HttpSourceConfig | SqlSourceConfig, Field(discriminator="type")
]


class SourcesFile(BaseModel):
    """The sources config file: known sites (optional) and the list of sources."""

    model_config = ConfigDict(extra="forbid")

    sites: list[str] | None = Field(
        None, description="Known sites; rows naming another site go to quarantine. None = any."
    )
    sources: list[SourceConfig]

    @model_validator(mode="after")
    def _unique_names(self) -> SourcesFile:
        names = [s.name for s in self.sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique: {duplicates}")
        return self

    @classmethod
    def load(cls, path: Path) -> SourcesFile:
        """Load the YAML file; relative folder paths are taken from the current directory."""
        if not path.exists():
            raise FileNotFoundError(f"sources config not found: {path}")
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
