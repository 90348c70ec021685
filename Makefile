# The front door: `make repro` runs the pipeline, `make test` runs the tests. Both set up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Stage commands (`rewardlab …`) resolve to the venv; the Hub stays off for tests.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro report seed-study bench test lint clean help
help:
	@echo "make setup  - create .venv with pinned dependencies (idempotent)"
	@echo "make repro  - set up, then run the DVC pipeline (dvc repro)"
	@echo "make report - figures and reports/report.md from the last run and DVC (no retraining;"
	@echo "              ALL_COMMITS=1: every commit in the experiments table)"
	@echo "make seed-study - the tutorial's GPT-2 / Dahoas study as a DVC experiment (network, GPU)"
	@echo "make bench  - training/scoring throughput vs the tutorial and plain TRL (reports/bench.json)"
	@echo "make test   - set up, then run the test suite offline"
	@echo "make lint   - ruff"

setup: $(STAMP)

# Re-installs only when the pins change. torch is pinned to the CPU wheel pip finds locally.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

repro: setup
	$(BIN)/dvc repro

# The experiments table: HEAD's experiments, branches and tags; every commit with ALL_COMMITS=1.
# More flags (rewardlab report --help): make report ARGS="--sort-by calibration.ece --ascending"
report: setup
	$(BIN)/rewardlab report $(if $(ALL_COMMITS),--all-commits) $(ARGS)

# The preset lives in src/rewardlab/tools/presets/tutorial.yaml; extra flags: make seed-study ARGS="-S …"
seed-study: setup
	$(BIN)/rewardlab exp tutorial $(ARGS)

bench: setup
	$(BIN)/rewardlab bench

# One pytest-xdist worker per logical core, at most 4 (each builds its own tiny fixtures; `auto`
# would count physical cores, one on many 2-vCPU VMs). A test file stays on one worker, so
# test_pipeline.py's session run is built once. TEST_WORKERS=0: one process.
TEST_WORKERS ?= logical
test: setup
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -q \
		-n $(TEST_WORKERS) --maxprocesses 4 --dist loadfile

lint: setup
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) .pytest_cache
