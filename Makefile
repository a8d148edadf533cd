# e2e-mammo: the two commands. `make run` runs the whole pipeline on the built-in synthetic
# datasets; `make test` runs the test-suite. Both create/refresh .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
STAMP := $(VENV)/.installed

.PHONY: run test lint format clean venv dvc-remote

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# DVC's default remote `local` is the folder ../e2e-mammo-dvc-remote beside the checkout; its
# absolute path goes into the git-ignored .dvc/config.local once (DVC resolves a relative url
# wrongly for older revisions). A config.local of your own is left alone.
.dvc/config.local: | $(STAMP)
	$(BIN)/dvc remote modify --local local url "$(abspath ..)/e2e-mammo-dvc-remote"

dvc-remote: .dvc/config.local

run: $(STAMP) .dvc/config.local
	MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true \
	$(BIN)/snakemake all --cores $(CORES) --resources gpu=1
	@echo "Score mammograms with the trained ensemble (results/ensemble/cbis-ddsm/bundle.pt):"
	@echo "  $(BIN)/e2e-mammo predict FOLDER_OR_FILES --out preds"

test: $(STAMP)
	@# --dist loadfile: a test module stays on one worker, so the tiny pipeline of test_workflow.py runs once
	$(BIN)/python -m pytest -n $(CORES) --dist loadfile tests

lint: $(STAMP)
	$(BIN)/ruff check src tests workflow/scripts bench
	$(BIN)/ruff format --check src tests workflow/scripts bench
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

format: $(STAMP)
	$(BIN)/ruff format src tests workflow/scripts bench
	$(BIN)/ruff check --fix src tests workflow/scripts bench
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results/* logs benchmarks .snakemake
