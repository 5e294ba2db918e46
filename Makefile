# Set-up and everyday commands. `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel of torch on a machine without a GPU; override for CUDA, e.g.
#   make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" install
TORCH_SPEC ?= torch==2.13.0
LS_VENV ?= .venv-ls
LABEL_STUDIO_SPEC ?= label-studio==1.23.2
# The paper's released feedback: the workspace's shared copy when there is one, else the
# paper's repository (set RHF_FEEDBACK_SOURCE to use another folder).
SHARED_FEEDBACK := $(wildcard $(abspath ../shared/data/rich-feedback-reasoning))
ifneq ($(SHARED_FEEDBACK),)
export RHF_FEEDBACK_SOURCE ?= $(SHARED_FEEDBACK)
endif

.PHONY: install install-dev label-studio browser demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# Label Studio lives in its own virtual environment: its pinned Django stack stays apart
# from the toolkit's dependencies.
$(LS_VENV)/.installed:
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install -q $(LABEL_STUDIO_SPEC)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
label-studio: $(LS_VENV)/.installed
browser:
	bash scripts/ensure_chromium.sh

demo: install
	$(VENV)/bin/rhf demo

test: install-dev label-studio browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

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
	rm -rf $(VENV) $(LS_VENV) runs/demo
