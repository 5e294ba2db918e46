# Set-up and everyday commands. `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Installs come from the lock, requirements/*.txt (`make lock` refreshes it), with uv when it can
# be had (the system's, or one pip puts into the venv), else with pip; see
# scripts/install_locked.sh. The lock's torch is the CPU wheel, torch==2.13.0+cpu; for CUDA:
#   make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" install
# INSTALLER=pip (or uv) forces one; LOCKED=0 installs pyproject.toml's ranges with pip
# instead (a platform the lock is not made for).
TORCH_SPEC ?=
LOCKED ?= 1
INSTALLER ?= auto
export PYTHON TORCH_SPEC LOCKED INSTALLER
LS_VENV ?= .venv-ls
# The data: the workspace's shared copies when they are there (set RHF_DATA_DIR and
# RHF_FEEDBACK_SOURCE to use other folders); else BIG-bench's and StrategyQA's public raw
# files and the paper's repository. Each copy is checked by content (docs/data.md).
SHARED_DATA := $(wildcard $(abspath ../shared/data))
ifneq ($(SHARED_DATA),)
export RHF_DATA_DIR ?= $(SHARED_DATA):$(SHARED_DATA)/bigbench-tasks
export RHF_FEEDBACK_SOURCE ?= $(SHARED_DATA)/rich-feedback-reasoning
endif

.PHONY: install install-dev label-studio browser demo test lint docs lock bench clean

$(VENV)/.installed: pyproject.toml requirements/base.txt
	bash scripts/install_locked.sh $(VENV) base
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements/dev.txt
	bash scripts/install_locked.sh $(VENV) dev
	touch $@

# Label Studio lives in its own virtual environment (requirements/label-studio.txt): its
# pinned Django stack stays apart from the toolkit's dependencies.
$(LS_VENV)/.installed:
	bash scripts/install_locked.sh $(LS_VENV) label-studio
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
label-studio: $(LS_VENV)/.installed
browser:
	bash scripts/ensure_chromium.sh

demo: install
	$(VENV)/bin/rhf demo

# mkdocs runs without --quiet: that hides the warnings, and then --strict never aborts.
test: install-dev label-studio browser
	$(VENV)/bin/ruff check .
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site
	$(PY) -m pytest -q

# The documentation site (docs/, mkdocs.yml) into site/; `mkdocs serve` shows it while editing.
docs: install-dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# Re-resolve requirements/*.txt from pyproject.toml; UPGRADE=1 takes the newest versions.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	bash scripts/lock.sh $(VENV)

lint: install-dev
	$(VENV)/bin/ruff check .

# bench_infer uses the demo's multitask model when it exists (a random model never stops
# generating, which makes the plain loop it is compared with take an hour).
BENCH_INFER_MODEL := $(if $(wildcard runs/demo/train/multitask/final),--model runs/demo/train/multitask,)
bench: install-dev label-studio
	@echo "== scripts/bench_train.py"; $(PY) scripts/bench_train.py
	@echo "== scripts/bench_infer.py"; $(PY) scripts/bench_infer.py $(BENCH_INFER_MODEL)
	@echo "== scripts/bench_annotation.py"; $(PY) scripts/bench_annotation.py

clean:
	rm -rf $(VENV) $(LS_VENV) runs/demo site
