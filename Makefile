# Every target runs inside .venv (made by `make install`).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
LIVO   := $(VENV)/bin/livo
CONFIG ?= configs/tiny.yaml
OUT    ?= runs/tiny
SET    ?=
# Training: DATA is the run folder `make shards` wrote; `make train` and `make eval` use
# CONFIG=configs/train_tiny.yaml and OUT=runs/train-tiny unless given on the command line.
DATA   ?= runs/tiny
RESUME ?= latest

# Prefect state stays inside the project; no telemetry.
export PREFECT_HOME := $(CURDIR)/.prefect
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_UI_ENABLED := false
# The pipeline's own log lines (pipeline.*) also go to Prefect's run logs.
export PREFECT_LOGGING_EXTRA_LOGGERS := pipeline

# Deployments: `make server`, then `make serve` (or `make deploy` + `make worker`) in other shells.
PREFECT_PORT ?= 4200
API_URL      ?= $(or $(PREFECT_API_URL),http://127.0.0.1:$(PREFECT_PORT)/api)
# The UI is on: the run URLs Prefect prints (`make serve`, `prefect deployment run`) point at it.
UI           ?= true
# The work pool prefect.yaml names.
POOL         := livo-process

SET_ARGS := $(foreach s,$(SET),--set $(s))

.PHONY: help install install-browser report export browse shards plan audit validate principles prompts test bench-selector bench-real bench-judges calibrate train-selector clean server serve deploy worker train eval bench-train bench-render bench-scale rehearse

help:
	@echo "make install      create .venv and install the project with its test tools (and chromium, as root)"
	@echo "make install-browser  Debian's chromium for the report's browser test (apt-get; needs root)"
	@echo "make report       livo report OUT: one self-contained HTML file, OUT/report.html"
	@echo "make export       livo export OUT EXPORT --format FORMAT (pickapic: Diffusion-DPO; livo: official LiVO)"
	@echo "make browse       livo browse OUT: a sample of the pairs as a DataFrame, summarised"
	@echo "make shards       build a dataset run: CONFIG=$(CONFIG) OUT=$(OUT) [SET='key=value ...']"
	@echo "make plan         prepare OUT (prompts, principles, pair plan) without rendering; make shards resumes it"
	@echo "make audit        plan OUT if needed, then print the prompt-level pair checks (livo audit OUT)"
	@echo "make validate     check the run folder OUT"
	@echo "make principles   print the value-principle catalog"
	@echo "make prompts      print the prompts CONFIG expands to (JSONL)"
	@echo "make test         run the test suite"
	@echo "make bench-selector  keyword / retrieval / default selector on the dev split, with confusion matrices"
	@echo "make bench-real      the default selector and planning on the real dev splits (I2P prompts, COCO captions)"
	@echo "make bench-judges    per-image cost of each image judge (NudeNet, OpenNSFW, faces, CLIP, Q16) on real photographs"
	@echo "make calibrate    propose filter thresholds from the finished run OUT (livo calibrate OUT)"
	@echo "make train-selector  retrain the default selector's head (value_principles/selector_head.npz) from prompts/labelled/"
	@echo "make train        train a LiVO value encoder: DATA=runs/tiny OUT=runs/train-tiny CONFIG=configs/train_tiny.yaml [SET=...]"
	@echo "make eval         livo eval of the trained model in OUT (images with and without the value encoder)"
	@echo "make bench-train  our training step vs the official-style naive step (samples/s, peak memory, ratio)"
	@echo "make bench-render our shard task vs bare batched diffusers vs one call per image (SD 1.5 on CUDA, else tiny on CPU; MODEL=sdxl|tiny-sdxl)"
	@echo "make bench-scale  LiVO-size costs: plan of 86k+ pairs, tiny builds of 1k/5k/20k pairs (s/pair), resume, validate, report, export"
	@echo "make rehearse    SD 1.5 and CLIP ViT-L/14 at real size, random weights, run from local folders on CPU (MODEL=sdxl: SDXL)"
	@echo "make clean        remove runs/, caches and Prefect state"
	@echo "make server       local Prefect server and UI on 127.0.0.1:$(PREFECT_PORT) (SQLite in .prefect/) [UI=false]"
	@echo "make serve        serve prefect.yaml's build-dataset deployments (default + one per profile) to API_URL"
	@echo "make deploy       create the process work pool $(POOL) and register prefect.yaml's deployments"
	@echo "make worker       start a process worker on $(POOL)"

install:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test]'
	$(MAKE) install-browser

# The browser test of `livo report` drives Debian's chromium (a registry package, no browser download).
install-browser:
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "no chromium and not root: run 'sudo make install-browser' (the browser test skips without it)"; fi

shards:
	$(LIVO) shards --config $(CONFIG) --out $(OUT) $(SET_ARGS)
	$(LIVO) validate $(OUT)
	$(LIVO) audit $(OUT)

plan:
	$(LIVO) plan --config $(CONFIG) --out $(OUT) $(SET_ARGS)

audit:
	test -f $(OUT)/plan.jsonl || $(LIVO) plan --config $(CONFIG) --out $(OUT) $(SET_ARGS)
	$(LIVO) audit $(OUT)

validate:
	$(LIVO) validate $(OUT)

report:
	$(LIVO) report $(OUT)

# FORMAT=pickapic (Diffusion-DPO's Pick-a-Pic layout) or livo (the official LiVO layout); EXPORT must be new.
FORMAT ?= pickapic
EXPORT ?= $(OUT)-$(FORMAT)
export:
	$(LIVO) export $(OUT) $(EXPORT) --format $(FORMAT)

browse:
	$(LIVO) browse $(OUT) -n 20

principles:
	$(LIVO) principles list

prompts:
	$(LIVO) prompts --config $(CONFIG) $(SET_ARGS)

test:
	$(PY) -m pytest -q

bench-selector:
	$(PY) bench/selector_accuracy.py

bench-real:
	$(PY) bench/real_prompts.py

bench-judges:
	$(PY) bench/judges.py

calibrate:
	$(LIVO) calibrate $(OUT)

train-selector:
	$(LIVO) train-selector

train: CONFIG := configs/train_tiny.yaml
train: OUT := runs/train-tiny
train:
	$(LIVO) train --config $(CONFIG) --data $(DATA) --out $(OUT) --resume $(RESUME) $(SET_ARGS)

eval: OUT := runs/train-tiny
eval:
	$(LIVO) eval --model $(OUT)

bench-train:
	$(PY) bench/train_step.py --data $(DATA)

# SD 1.5 (random weights) on CUDA where torch sees a GPU, else the tiny profile on CPU; last line `ours/bare: X`.
# MODEL=sdxl: SDXL base (random weights, 1024 px); MODEL=tiny-sdxl: the tiny SDXL on CPU.
bench-render: MODEL ?=
bench-render:
	$(PY) bench/render.py $(if $(MODEL),--model $(MODEL))

# (a) livo plan of 86k+ pairs, (b) 8 px 1-step builds of SIZES pairs, (c) resume/validate/report/export on the largest.
SIZES ?= 1000,5000,20000
bench-scale:
	$(PY) bench/scale.py --sizes $(SIZES)

# The full-size path without the weights: random SD 1.5 (MODEL=sdxl: SDXL base) and CLIP ViT-L/14 written once into
# runs/rehearsal-models, then configs/$(MODEL).yaml from them on CPU at 128 px, 2 steps: shards, validate, report.
rehearse: MODEL ?= sd15
rehearse:
	$(PY) bench/rehearse.py --model $(MODEL)

clean:
	rm -rf runs .prefect .pytest_cache

server:
	@echo "Prefect server on 127.0.0.1:$(PREFECT_PORT) (UI: http://127.0.0.1:$(PREFECT_PORT)), state in $(PREFECT_HOME). In other shells:"
	@echo "  export PREFECT_API_URL=http://127.0.0.1:$(PREFECT_PORT)/api"
	PREFECT_UI_ENABLED=$(UI) $(VENV)/bin/prefect server start --host 127.0.0.1 --port $(PREFECT_PORT)

serve:
	PREFECT_API_URL=$(API_URL) $(PY) -m flows.serve

deploy:
	PREFECT_API_URL=$(API_URL) $(VENV)/bin/prefect work-pool create $(POOL) --type process --overwrite
	LIVO_ROOT=$(CURDIR) PREFECT_API_URL=$(API_URL) $(VENV)/bin/prefect --no-prompt deploy --all

worker:
	PREFECT_API_URL=$(API_URL) $(VENV)/bin/prefect worker start --pool $(POOL) --type process
