# Every target runs inside .venv (made by `make install`).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
LIVO   := $(VENV)/bin/livo
CONFIG ?= configs/tiny.yaml
OUT    ?= runs/tiny
SET    ?=

# Prefect state stays inside the project; no telemetry.
export PREFECT_HOME := $(CURDIR)/.prefect
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_UI_ENABLED := false

SET_ARGS := $(foreach s,$(SET),--set $(s))

.PHONY: help install shards validate principles prompts test bench-selector clean

help:
	@echo "make install      create .venv and install the project with its test tools"
	@echo "make shards       build a dataset run: CONFIG=$(CONFIG) OUT=$(OUT) [SET='key=value ...']"
	@echo "make validate     check the run folder OUT"
	@echo "make principles   print the value-principle catalog"
	@echo "make prompts      print the prompts CONFIG expands to (JSONL)"
	@echo "make test         run the test suite"
	@echo "make bench-selector  offline selector accuracy on the labelled test split"
	@echo "make clean        remove runs/, caches and Prefect state"

install:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test]'

shards:
	$(LIVO) shards --config $(CONFIG) --out $(OUT) $(SET_ARGS)
	$(LIVO) validate $(OUT)

validate:
	$(LIVO) validate $(OUT)

principles:
	$(LIVO) principles list

prompts:
	$(LIVO) prompts --config $(CONFIG) $(SET_ARGS)

test:
	$(PY) -m pytest -q

bench-selector:
	$(PY) bench/selector_accuracy.py

clean:
	rm -rf runs .prefect .pytest_cache
