# Two entry points: `make demo` (install + run the pipeline on the bundled sample) and
# `make test` (install + run the whole test suite). Both are idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The local CPU wheel of torch (pip's PIP_FIND_LINKS names it on these machines).
WHEELS ?= $(if $(PIP_FIND_LINKS),$(PIP_FIND_LINKS),/opt/wheels)

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120

# Root installs Debian packages directly; anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: install browser demo test lint train evaluate bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned, from the local CPU wheel: any other spec pulls CUDA packages.
	$(BIN)/pip install -q torch==2.13.0 --find-links $(WHEELS)
	$(BIN)/pip install -q -e ".[dev]" --find-links $(WHEELS)
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium and chromedriver, for the test that renders the report in a real browser.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  ($(SUDO) apt-get update -qq && \
	   DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver)

demo: install
	$(BIN)/mining run
	$(BIN)/mining report --out data/report.html

# Two pytest-xdist workers, one test module each at a time (its fixtures are built once).
test: install browser
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check --no-cache src tests flows scripts bench
	$(BIN)/mypy src

train: install
	$(BIN)/mining train --config config/train.yaml

bench: install
	$(BIN)/python bench/classify_speed.py

clean:
	rm -rf $(VENV) data/radar.duckdb data/radar_read.duckdb data/report.html .cache
