# The two commands a newcomer needs: `make run` and `make test`. Both create .venv and install.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 50051

.PHONY: install run test lint format protos bench bench-mastering bench-stems clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $(STAMP)

run: install
	$(BIN)/voidline up --port $(PORT)

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -ra

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

# Regenerate the committed Python stubs after editing protos/ (a test fails when they drift).
protos: install
	$(BIN)/python protos/generate.py

bench: install
	$(BIN)/python benchmarks/analysis.py

# Mastering quality and speed against matchering (installed into its own GPL venv under
# benchmarks/.cache on first use, never into .venv): the tables in docs/benchmarks.md.
bench-mastering: install
	$(BIN)/python benchmarks/mastering_quality.py
	$(BIN)/python benchmarks/mastering_speed.py

# Stems service against a direct demucs apply_model call (overhead, first stem, memory), and
# the DSP backend's SDR on generated multitrack songs: docs/benchmarks.md and docs/stems.md.
bench-stems: install
	$(BIN)/python benchmarks/stems.py
	$(BIN)/python benchmarks/stems_dsp_quality.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
