# The two commands a newcomer runs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the frameworks the export tests build their launches in (pyproject extra `frameworks`: a CPU torch)
FRAMEWORKS := $(VENV)/.frameworks

.PHONY: run test lint install clean bench

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11+ is needed: set PYTHON=python3.x"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

$(FRAMEWORKS): $(STAMP) pyproject.toml
	@! $(BIN)/python -m pip install --dry-run -q --report - '.[dev,frameworks]' 2>/dev/null | grep -q '"name": "nvidia-' \
		|| { echo "the frameworks extra would pull a CUDA build of torch: keep torch pinned to the CPU wheel"; exit 1; }
	$(BIN)/python -m pip install -q -e '.[dev,frameworks]'
	@touch $(FRAMEWORKS)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/gigafactory simulate

test: $(STAMP) $(FRAMEWORKS)
	bash scripts/install-browser.sh
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache .ruff_cache
