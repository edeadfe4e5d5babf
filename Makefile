# make setup: a .venv with everything (uv is bootstrapped with pip when missing)
# make demo:  set up, then run the whole system on its default synthetic data
# make test:  set up, then run the test suite
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
UV := python3 -m uv
# Debian packages the tests need (installed only when missing).
APT_PACKAGES := chromium
DEMO_CLIENTS ?= 20000
DEMO_TRIALS ?= 10
export MLFLOW_DISABLE_TELEMETRY := true
export UV_LINK_MODE := copy

.PHONY: setup demo test lint bench clean ops spark

# Optional Debian packages, installed only by the target that needs them:
# nginx for `scoring up` (make ops), Java for Spark batch scoring (make spark).
APT_OPS := nginx-light
APT_SPARK := default-jre-headless

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
	$(UV) sync --frozen --extra dev
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq $$missing; fi
	@touch $@

demo: setup
	$(BIN)/scoring generate --applications $(DEMO_CLIENTS) --out data/raw
	$(BIN)/scoring validate --data-dir data/raw
	$(BIN)/scoring features --data-dir data/raw --out data/features
	$(BIN)/scoring train --store data/features --trials $(DEMO_TRIALS)
	$(BIN)/scoring promote --store data/features || true
	$(BIN)/scoring score --data-dir data/raw --out data/scores.csv
	@echo "serve the champion: $(BIN)/scoring serve   (http://127.0.0.1:5001/invocations)"

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python benchmarks/bench_generate.py

ops: setup
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { $(call apt_install,$(APT_OPS)); }

spark: setup
	$(UV) sync --frozen --extra dev --extra spark
	@command -v java >/dev/null || { $(call apt_install,$(APT_SPARK)); }

clean:
	rm -rf $(VENV) data/raw data/features
