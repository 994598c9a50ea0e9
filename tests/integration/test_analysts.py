"""The analysts' interface on a database built from the bundled sample: views, queries, report."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browser import browser_available, headless_chromium
from tests.support.project import read_rows as query

pytestmark = pytest.mark.integration


def test_every_documented_query_runs_and_returns_rows(sample_read_copy: Path,
                                                      repo_root: Path) -> None:
    blocks = re.findall(r"```sql\n(.*?)```", (repo_root / "docs" / "analysts.md").read_text(),
                        re.S)
    assert len(blocks) >= 10
    for sql in blocks:
        assert query(sample_read_copy, sql), f"no rows from documented query:\n{sql}"


def test_each_section_has_real_figures_on_the_sample(sample_read_copy: Path) -> None:
    feedback, silent, voiced_by_ticket = query(
        sample_read_copy, "SELECT count(*), count(*) FILTER (WHERE silent), "
                          "count(*) FILTER (WHERE voice_source = 'complaint') "
                          "FROM feedback_enriched")[0]
    total = query(sample_read_copy, "SELECT count(*) FROM feedback")[0][0]
    assert feedback == total  # every stored item classified and assessed
    assert 0 < silent < feedback and voiced_by_ticket > 0
    silent_icebergs, with_complaints = query(
        sample_read_copy, "SELECT sum(silent_items), count(*) FILTER (WHERE complaints > 0) "
                          "FROM iceberg_weekly")[0]
    assert silent_icebergs > 0 and with_complaints > 0
    lost, dissatisfied = query(sample_read_copy,
                               "SELECT sum(expected_lost), sum(dissatisfied) "
                               "FROM customers_at_risk")[0]
    assert 0 < lost < dissatisfied
    assert query(sample_read_copy, "SELECT count(*) FROM complaint_sla WHERE breached")[0][0] > 0
    assert query(sample_read_copy, "SELECT count(*) FROM drivers WHERE site = '(all)' "
                                   "AND negativity_points > 0")[0][0] > 0
    lows_below_highs = query(sample_read_copy,
                             "SELECT bool_and(ci_low <= negative_share AND negative_share <= "
                             "ci_high) FROM failure_type_trends")[0][0]
    assert lows_below_highs


def make_report(repo_root: Path, db: Path, out: Path, *extra: str) -> None:
    done = subprocess.run([sys.executable, "-m", "mining.cli", "report", "--db", str(db),
                           "--out", str(out), *extra], cwd=repo_root, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_report_draws_its_charts_in_a_real_browser(sample_read_copy: Path, repo_root: Path,
                                                   tmp_path: Path) -> None:
    assert browser_available(), "chromium and chromedriver are needed: run `make browser`"
    out = tmp_path / "report.html"
    make_report(repo_root, sample_read_copy, out)
    page = out.read_text(encoding="utf-8")
    assert "<script src=" not in page  # nothing fetched from the network
    with headless_chromium() as driver:
        driver.get(out.as_uri())
        # Plotly draws after the page has parsed; on a busy machine that takes a while.
        # On a timeout the assertions below say what was missing.
        with contextlib.suppress(TimeoutException):
            WebDriverWait(driver, 60).until(
                lambda d: len(d.find_elements("css selector", ".js-plotly-plot")) >= 6)
        charts = driver.find_elements("css selector", ".plotly-graph-div")
        # Plotly marks a div js-plotly-plot once it has drawn it, with one g.trace per series.
        drawn = [len(c.find_elements("css selector", ".main-svg g.trace")) for c in
                 driver.find_elements("css selector", ".js-plotly-plot")]
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        titles = [s.text for s in driver.find_elements("css selector", "section h2")]
        artefacts = repo_root / "artifacts"
        artefacts.mkdir(exist_ok=True)
        driver.save_screenshot(str(artefacts / "report.png"))
    assert errors == []
    assert len(charts) == 6 and len(drawn) == 6 and min(drawn) >= 1
    assert len(titles) == 8 and "Problems no type names yet" in titles
    assert "no complaints" in page or "silent per complaint" in page


def test_report_for_one_site_since_a_day(sample_read_copy: Path, repo_root: Path,
                                         tmp_path: Path) -> None:
    out = tmp_path / "delta.html"
    make_report(repo_root, sample_read_copy, out, "--site", "Delta", "--since", "2015-02-22")
    page = out.read_text(encoding="utf-8")
    assert "site Delta, since 2015-02-22" in page
    assert "US Airways" not in page.split("id='silent'")[1].split("</section>")[0]


def test_report_without_a_database_says_what_to_do(repo_root: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mining.cli", "report", "--db",
                           str(tmp_path / "missing.duckdb"), "--out", str(tmp_path / "r.html")],
                          cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "run `mining run` first" in done.stderr
