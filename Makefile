# e2e-mammo: the two commands. `make run` runs the whole pipeline on the built-in synthetic
# datasets; `make test` runs the test-suite. Both create/refresh .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
STAMP := $(VENV)/.installed
# Every dependency at an exact version with its hashes (the test extra included); `make lock`
# regenerates it from pyproject.toml, and envs/e2e-mammo.yaml from it.
LOCK := requirements.lock
LOCK_VENV := .venv-lock

.PHONY: run test test-slow test-slurm lint format clean venv dvc-remote lock docs

venv: $(STAMP)

# pip verifies every downloaded file against the lock's hashes; the package itself is then
# installed from this checkout without resolving anything again (--no-deps).
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# Re-lock after changing pyproject.toml's dependencies (needs PyPI): uv resolves for every
# platform (markers) and Python 3.11, keeping the current pins where they still satisfy.
lock:
	@test -x $(LOCK_VENV)/bin/uv || ($(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet uv)
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml --extra test --generate-hashes --universal \
		--python-version 3.11 --custom-compile-command "make lock" -o $(LOCK)
	$(PYTHON) tools/conda_env.py

# DVC's default remote `local` is the folder ../e2e-mammo-dvc-remote beside the checkout; its
# absolute path goes into the git-ignored .dvc/config.local once (DVC resolves a relative url
# wrongly for older revisions). A config.local of your own is left alone.
.dvc/config.local: | $(STAMP)
	$(BIN)/dvc remote modify --local local url "$(abspath ..)/e2e-mammo-dvc-remote"

dvc-remote: .dvc/config.local

# The demo on the CPU: there `gpu` is only a count of training jobs at once. DEMO_SLOTS of them run
# side by side, the whole-image rows, fine-tuning cells and two-step fits at CORES/DEMO_SLOTS
# threads each: on 2 cores two one-thread ResNet50 jobs do ~1.2x the work of one two-thread job
# (bench/README.md, "Training jobs side by side"). The patch classifiers keep every core (two at
# once gain nothing there). DEMO_SLOTS=1 runs one job at a time, as the README's snakemake line.
DEMO_SLOTS ?= 2
SLOT_THREADS = $(shell echo $$(( $(CORES) / $(DEMO_SLOTS) > 0 ? $(CORES) / $(DEMO_SLOTS) : 1 )))

run: $(STAMP) .dvc/config.local
	MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true \
	$(BIN)/snakemake all --cores $(CORES) --resources gpu=$(DEMO_SLOTS) \
		--set-threads train_whole_image=$(SLOT_THREADS) transfer_cell=$(SLOT_THREADS) \
		two_step=$(SLOT_THREADS)
	@echo "Score mammograms with the trained ensemble (results/ensemble/cbis-ddsm/bundle.pt):"
	@echo "  $(BIN)/e2e-mammo predict FOLDER_OR_FILES --out preds"

# The test-suite in two tiers. `make test`: every test not marked slow (unit and stage tests,
# lint, dry runs; ~4 min on 2 cores). `make test-slow`: the end-to-end tier, the CI-sized pipeline
# run once through the real DAG (tests/test_workflow.py) and the checks that need it or a real
# cluster executor, DVC round trip or size bomb (~11 min on 2 cores). .ci/run runs both.
test: $(STAMP)
	$(BIN)/python -m pytest -n $(CORES) --dist loadfile -m "not slow and not slurm" tests

test-slow: $(STAMP)
	@# --dist loadfile: a test module stays on one worker, so the tiny pipeline of test_workflow.py runs once
	$(BIN)/python -m pytest -n $(CORES) --dist loadfile -m slow tests

# The SLURM tier: the CI-sized pipeline through a real single-node SLURM with profiles/slurm
# (tests/test_slurm.py; ~25 min on 2 cores). tools/slurm_single_node.sh installs (apt-get) and
# starts the cluster, which needs root; where it cannot, this says so and skips. .ci/run runs it.
test-slurm: $(STAMP)
	@if tools/slurm_single_node.sh install && tools/slurm_single_node.sh start; then \
		E2E_REQUIRE_SLURM=1 $(BIN)/python -m pytest -m slurm tests; rc=$$?; \
		tools/slurm_single_node.sh stop; exit $$rc; \
	else \
		tools/slurm_single_node.sh stop >/dev/null 2>&1 || true; \
		echo "== the SLURM tier was SKIPPED: no single-node SLURM could be installed or started here (see the message above; it needs root and apt-get)"; \
	fi

# Generated files: the parameter reference in docs/parameters.md (from the schema's
# descriptions) and the CI-sized configuration .test/params.yaml (params.yaml + .test/overrides.yaml).
docs: $(STAMP)
	$(BIN)/python tools/params_reference.py
	$(BIN)/python tools/test_config.py

lint: $(STAMP)
	$(BIN)/ruff check src tests workflow/scripts bench tools
	$(BIN)/ruff format --check src tests workflow/scripts bench tools
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

format: $(STAMP)
	$(BIN)/ruff format src tests workflow/scripts bench tools
	$(BIN)/ruff check --fix src tests workflow/scripts bench tools
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results/* logs benchmarks .snakemake
