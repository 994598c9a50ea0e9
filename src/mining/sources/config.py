"""Source configuration: where rows come from and how their columns map to the internal record."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

ItemKind = Literal["feedback", "complaint"]


def _region(code: str) -> str:
    code = code.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{code!r} is not a phone region libphonenumber knows (ISO 3166, e.g. GB)")
    return code


PhoneRegion = Annotated[str, AfterValidator(_region)]

UpdatableField = Literal["text", "rating", "status", "resolved_at", "category"]
# What a newer version of a stored record may change, per kind, and what it changes by default.
UPDATABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "feedback": ("text", "rating"),
    "complaint": ("status", "resolved_at", "category", "text"),
}
DEFAULT_UPDATABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "feedback": ("text", "rating"),
    "complaint": ("status", "resolved_at", "category"),
}


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
    updated_at: str | None = Field(
        None,
        description="Column with the source's version time (last modified). When mapped, a row "
        "whose version is not newer than the stored one changes nothing; when not, the row "
        "read last wins.",
    )

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
    phone_regions: list[PhoneRegion] = Field(
        default_factory=list,
        description="Regions whose national phone formats redaction also recognises, on top "
        "of US, GB, CN, DE, FR (e.g. [JP] for a Japanese review site).",
    )
    updatable_fields: list[UpdatableField] | None = Field(
        None,
        description="Fields a newer version of a stored record may change; the change history "
        "is kept in feedback_history / complaints_history. Default: status, resolved_at and "
        "category for complaints (text may be added); text and rating for feedback. [] = "
        "stored records never change. A record without an external id is keyed by source, "
        "site, created_at and content hash, so an edited text there arrives as a new record.",
    )

    @field_validator("require_text")
    @classmethod
    def _feedback_has_text(cls, value: bool, info: ValidationInfo) -> bool:
        # feedback.text is NOT NULL: feedback without text is never a record (issue 14).
        if not value and info.data.get("kind") == "feedback":
            raise ValueError("feedback always needs a text; only complaints may set "
                             "require_text: false")
        return value

    @model_validator(mode="after")
    def _updatable_fields_fit_kind(self) -> _SourceBase:
        if self.updatable_fields is not None:
            allowed = UPDATABLE_FIELDS[self.kind]
            wrong = [f for f in self.updatable_fields if f not in allowed]
            if wrong:
                raise ValueError(f"updatable_fields {wrong} do not apply to {self.kind} "
                                 f"(allowed: {list(allowed)})")
        return self

    def fields_that_may_change(self) -> tuple[str, ...]:
        """The declared updatable fields, or the kind's defaults."""
        if self.updatable_fields is None:
            return DEFAULT_UPDATABLE_FIELDS[self.kind]
        return tuple(dict.fromkeys(self.updatable_fields))


class FolderSourceConfig(_SourceBase):
    type: Literal["folder"] = "folder"
    path: Path
    patterns: list[str] = Field(default_factory=lambda: [
        "*.csv", "*.jsonl", "*.parquet", "*.csv.gz", "*.jsonl.gz"])
    csv_delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = Field(
        "utf-8",
        description="Encoding of CSV and JSONL files without a byte-order mark (a BOM always "
        "wins: UTF-8, UTF-16 and UTF-32 files with one are read as such). Rows that are not "
        "valid in it go to quarantine as bad_encoding.",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"{value!r} is not an encoding Python knows (e.g. utf-8, gbk, "
                             "cp1252)") from None
        return value


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
    max_retry_after_seconds: float = Field(
        60.0, ge=0,
        description="Longest Retry-After (on 429/503) honoured between attempts; a server "
        "asking for longer fails the source for this run, and the next run tries again.",
    )
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value


class SqlSourceConfig(_SourceBase):
    type: Literal["sql"] = "sql"
    url: str = Field(description="SQLAlchemy URL, e.g. sqlite:///path/to/db.sqlite")
    table: str | None = Field(
        None, description="Table name, quoted for the database (dashes and spaces are fine); "
        "`schema.table` names a table in a schema.")
    watermark_column: str = Field(min_length=1)
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
    site_phone_regions: dict[str, list[PhoneRegion]] = Field(
        default_factory=dict,
        description="Per site, extra phone regions for redaction (e.g. {Singapore: [SG]}).",
    )

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
        return cls.model_validate(_read_yaml(path))

    @classmethod
    def load_each(cls, path: Path) -> tuple[SourcesFile, list[SourceConfigError]]:
        """Load the file checking each source on its own: a source with a config error is left
        out and reported by name and key, and the other sources still run (issue 14).

        An error outside `sources` (the file is missing or not YAML, `sites` is wrong) is no
        one source's, and raises `SourcesConfigInvalid`.
        """
        data = _read_yaml(path)
        if not isinstance(data, dict):
            raise SourcesConfigInvalid(f"sources config {path}: expected a mapping with a "
                                       "`sources` list")
        items = data.get("sources")
        if not isinstance(items, list):
            raise SourcesConfigInvalid(f"sources config {path}: key sources: expected a list")
        good: list[dict[str, Any]] = []
        errors: list[SourceConfigError] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            label = f"sources[{index}]"
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                label = item["name"]
            if not isinstance(item, dict):
                errors.append(SourceConfigError(label, None, "expected a mapping"))
                continue
            try:
                _SOURCE.validate_python(item)
            except ValidationError as exc:
                errors.extend(SourceConfigError(label, *_key_and_message(item, e))
                              for e in exc.errors())
                continue
            if item["name"] in seen:
                errors.append(SourceConfigError(
                    label, "name", f"sources[{seen[item['name']]}] already has this name"))
                continue
            seen[item["name"]] = index
            good.append(item)
        try:
            return cls.model_validate({**data, "sources": good}), errors
        except ValidationError as exc:
            raise SourcesConfigInvalid(f"sources config {path}: {_one_line(exc)}") from None


SOURCE_TYPES = ("folder", "http", "sql")
_SOURCE: TypeAdapter[SourceConfig] = TypeAdapter(SourceConfig)


class SourcesConfigInvalid(ValueError):
    """The sources file as a whole cannot be used (not one source's error)."""


@dataclass(frozen=True)
class SourceConfigError:
    """A config error in one source: which source, which key, what is wrong."""

    source: str
    key: str | None
    message: str

    def __str__(self) -> str:
        where = f", key {self.key}" if self.key else ""
        return f"config error in source {self.source!r}{where}: {self.message}"


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        raise FileNotFoundError(f"sources config not found: {path}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SourcesConfigInvalid(
            f"sources config {path} is not valid YAML: {' '.join(str(exc).split())}") from None


def _key_and_message(item: dict[str, Any], error: Any) -> tuple[str | None, str]:
    """The dotted key of a pydantic error (without the union's tag) and its message."""
    loc = [str(part) for part in error["loc"]]
    if loc and loc[0] == item.get("type") and loc[0] in SOURCE_TYPES:
        loc = loc[1:]
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "union_tag_invalid" or error["type"] == "union_tag_not_found":
        return "type", f"must be one of {', '.join(SOURCE_TYPES)}"
    return (".".join(loc) or None), message


def _one_line(exc: ValidationError) -> str:
    return "; ".join(f"key {'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}"
                     for e in exc.errors())
