"""The real airline tweets and CFPB export load through the folder source by mapping alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mining.pipeline import ingest_source
from mining.sources import FolderSource, SourcesFile
from mining.store.db import Store

pytestmark = pytest.mark.integration


def load(config_text: str, tmp_path: Path) -> tuple[Store, SourcesFile]:
    path = tmp_path / "sources.yaml"
    path.write_text(config_text, encoding="utf-8")
    return Store.open(tmp_path / "s.duckdb"), SourcesFile.load(path)


def test_cfpb_export_loads_with_mapping_only(tmp_path: Path, repo_root: Path,
                                            shared_data: Path) -> None:
    text = (repo_root / "config" / "sources.cfpb.yaml").read_text(encoding="utf-8")
    text = text.replace("../shared/data", str(shared_data))
    store, sources = load(text, tmp_path)
    config = sources.sources[0]
    counts = ingest_source(store, FolderSource(config), config, "run", known_sites=None,
                           max_text_chars=20_000)
    assert counts.rows_read == 6623
    assert counts.complaints_added + counts.quarantined + counts.duplicates == 6623
    assert counts.complaints_added > 6500
    with_text, companies = store.execute(
        "SELECT count(text), count(DISTINCT site) FROM complaints").fetchone()
    assert 1400 < with_text < 1600 and companies > 100
    # The narratives already mask PII as XXXX; nothing that looks like an e-mail survives.
    assert store.execute("SELECT count(*) FROM complaints WHERE regexp_matches(text, "
                         "'[\\w.]+@[\\w-]+\\.[a-z]{2,}')").fetchone()[0] == 0


def test_all_airline_tweets_load_and_a_second_read_adds_nothing(tmp_path: Path,
                                                              shared_data: Path) -> None:
    store, sources = load(f"""
sites: [American, Delta, Southwest, United, US Airways, Virgin America]
sources:
  - name: tweets
    kind: feedback
    type: folder
    path: {shared_data / "airline_tweets"}
    mapping: {{text: text, created_at: tweet_created, created_at_formats: ["%m/%d/%Y %H:%M"],
               site: airline, external_id: tweet_id}}
""", tmp_path)
    config = sources.sources[0]
    first = ingest_source(store, FolderSource(config), config, "r1",
                          known_sites=frozenset(sources.sites or []), max_text_chars=20_000)
    assert first.rows_read == 11660
    assert first.feedback_added + first.quarantined + first.duplicates == 11660
    assert store.count("feedback") == first.feedback_added > 11400
    languages = dict(store.execute(
        "SELECT language, count(*) FROM feedback GROUP BY ALL").fetchall())
    assert languages["en"] / first.feedback_added > 0.97
    second = ingest_source(store, FolderSource(config), config, "r2",
                           known_sites=frozenset(sources.sites or []), max_text_chars=20_000)
    assert second.rows_read == 0 and store.count("feedback") == first.feedback_added
