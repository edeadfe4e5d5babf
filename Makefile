# make setup: a .venv with everything, compiled to bytecode (a model-server restart then
#             imports in half the time; uv is bootstrapped with pip when missing)
# make demo:  set up, then run the whole system on its default synthetic data
# make test:  set up, then run the test suite (make test-fast: the everyday tier)
# make lint:  ruff and the import contracts
# make docs:  serve the documentation site on 127.0.0.1:8000 (make docs-build: build it, strictly)
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
UV := python3 -m uv
# Debian packages the system and its tests need (installed only when missing): Chromium for
# the dashboard's browser tests, nginx in front of the model servers (`scoring up`) with its
# Lua module (it refuses deeply nested JSON bodies), and a Java runtime for Spark batch
# scoring when the machine has none.
APT_PACKAGES := chromium nginx-light libnginx-mod-http-lua
APT_JAVA := default-jre-headless
DEMO_CLIENTS ?= 20000
# The demo cross-validates on 3 folds with 3 search trials (each trial is a full CV): 105
# CPU-seconds of training at 20,000 clients (benchmarks/results/bench_training.json), under
# 2 minutes even on one free core; `scoring train` defaults to 5 folds and 10 trials.
DEMO_FOLDS ?= 3
DEMO_TRIALS ?= 3
export MLFLOW_DISABLE_TELEMETRY := true
export UV_LINK_MODE := copy

.PHONY: setup demo test test-fast lint bench clean messages docs docs-build

define apt_install
missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  echo "installing Debian packages:$$missing"; \
  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq $$missing; fi
endef

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode --extra dev --extra spark --extra bench --extra docs --extra dask
	@$(call apt_install,$(APT_PACKAGES))
	@command -v java >/dev/null || { $(call apt_install,$(APT_JAVA)); }
	@touch $@

demo: setup
	$(BIN)/scoring generate --applications $(DEMO_CLIENTS) --out data/raw
	$(BIN)/scoring validate --data-dir data/raw
	$(BIN)/scoring features --data-dir data/raw --out data/features
	$(BIN)/scoring train --store data/features --folds $(DEMO_FOLDS) --trials $(DEMO_TRIALS)
	$(BIN)/scoring promote --store data/features || true
	$(BIN)/scoring score --data-dir data/raw --out data/scores.csv
	$(BIN)/scoring up
	$(BIN)/scoring status

test: setup
	$(BIN)/python -m pytest -q

# everyday tier: no server, browser or trained model (under 2 minutes on 2 cores)
test-fast: setup
	$(BIN)/python -m pytest -q -m "not server and not slow"

# ruff, and the architecture contracts of pyproject.toml ([tool.importlinter])
lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# after changing a sentence of the dashboard: update the catalogues, then translate the
# new French messages in dashboard/locale/fr/LC_MESSAGES/dashboard.po
messages: setup
	$(BIN)/python -m dashboard.messages

# the documentation site (mkdocs.yml, docs/): reference pages are generated from the code by
# docs/hooks/reference.py; --strict fails on a broken link, anchor or reference
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve -a 127.0.0.1:8000

docs-build: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: setup
	$(BIN)/python benchmarks/bench_generate.py

clean:
	rm -rf $(VENV) data/raw data/features site
