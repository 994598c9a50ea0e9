"""The sources file: a config error in one source names the source and the key, and the others
still load (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mining.sources.config import SourcesConfigInvalid, SourcesFile

GOOD = """
  - name: reviews
    kind: feedback
    type: folder
    path: in
    mapping: {text: text, created_at: date, site: site}
"""


def load(tmp_path: Path, sources: str, head: str = "") -> tuple[SourcesFile, list[str]]:
    path = tmp_path / "sources.yaml"
    path.write_text(f"{head}\nsources:\n{sources}", encoding="utf-8")
    loaded, errors = SourcesFile.load_each(path)
    return loaded, [str(e) for e in errors]


def test_each_source_is_checked_on_its_own(tmp_path: Path) -> None:
    broken = """
  - name: no-date
    kind: complaint
    type: folder
    path: in
    mapping: {text: text, site: site}
  - name: no-text
    kind: feedback
    type: folder
    path: in
    require_text: false
    mapping: {text: text, created_at: date, site: site}
  - name: typo
    kind: feedback
    type: folder
    pth: in
    mapping: {text: text, created_at: date, site: site}
  - name: crm
    kind: complaint
    type: sql
    url: sqlite:///crm.db
    table: crm-tickets
    watermark_column: updated
    mapping: {text: body, created_at: created, site: site}
  - name: api
    kind: feedback
    type: http
    url: ftp://example.com/feed
    mapping: {text: body, created_at: created, site: site}
  - name: what
    kind: feedback
    type: ftp
  - name: reviews
    kind: feedback
    type: folder
    path: again
    mapping: {text: text, created_at: date, site: site}
"""
    loaded, errors = load(tmp_path, GOOD + broken)
    assert [s.name for s in loaded.sources] == ["reviews", "crm"]
    assert errors == [
        "config error in source 'no-date', key mapping.created_at: Field required",
        "config error in source 'no-text', key require_text: feedback always needs a text; "
        "only complaints may set require_text: false",
        "config error in source 'typo', key path: Field required",
        "config error in source 'typo', key pth: Extra inputs are not permitted",
        "config error in source 'api', key url: 'ftp://example.com/feed' is not an http:// or "
        "https:// URL",
        "config error in source 'what', key type: must be one of folder, http, sql",
        "config error in source 'reviews', key name: sources[0] already has this name",
    ]


def test_an_error_outside_the_sources_fails_the_file(tmp_path: Path) -> None:
    with pytest.raises(SourcesConfigInvalid, match="key sites"):
        load(tmp_path, GOOD, head="sites: 3")
    (tmp_path / "bad.yaml").write_text("sources: [\n", encoding="utf-8")
    with pytest.raises(SourcesConfigInvalid, match="not valid YAML"):
        SourcesFile.load_each(tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError):
        SourcesFile.load_each(tmp_path / "missing.yaml")


def test_an_unknown_encoding_is_a_config_error(tmp_path: Path) -> None:
    _, errors = load(tmp_path, GOOD.replace("path: in", "path: in\n    encoding: klingon"))
    assert errors == ["config error in source 'reviews', key encoding: 'klingon' is not an "
                      "encoding Python knows (e.g. utf-8, gbk, cp1252)"]
