# Two commands set up a fresh machine: `make demo` and `make test`. Both create (or reuse) .venv and
# install from requirements.lock, so a clone next month installs what passed today.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
EXTRAS := test,plot,vision,transformers,timm,dev

.PHONY: demo test check test-latest lock lock-upgrade dist wheel-check bench clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# every package at the version and hash the lock names, then this checkout (editable) on top
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/roofscope seed-conv --exact
	$(BIN)/roofscope resnet50 --depth 1

# The suite on every core (pytest-xdist), at most 4 workers (each holds torch and its models);
# each test file stays on one worker, so a file's shared fixtures are built once.
PYTEST_PARALLEL := -n auto --maxprocesses 4 --dist loadfile

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL)

# Lint and format (ruff), types (mypy, strict), and the import-layer contract (import-linter: the
# pipeline's layers, pyproject.toml [tool.importlinter]).
check: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The suite against the newest release of every dependency the ranges in pyproject.toml allow,
# in a venv of its own: a breaking upstream release shows here before users meet it.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	PIP_CONSTRAINT= .venv-latest/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[$(EXTRAS)]'
	.venv-latest/bin/python -m pip list --format freeze | grep -iE '^(torch|torchvision|transformers|timm|matplotlib|rich|numpy)=='
	.venv-latest/bin/python -m pytest -q $(PYTEST_PARALLEL)

# The lock after a change to pyproject.toml's dependencies: what is pinned stays pinned, what is new
# is resolved. `make lock-upgrade`: every package to the newest release the ranges allow (torch and
# torchvision stay where [tool.uv] pins them). Then run make test and commit the lock.
LOCK_COMPILE = $(BIN)/uv pip compile pyproject.toml $(foreach extra,$(subst $(comma), ,$(EXTRAS)),--extra $(extra)) \
	--universal --python-version 3.10 --generate-hashes -o $(LOCK)

lock: $(STAMP)
	$(LOCK_COMPILE)

lock-upgrade: $(STAMP)
	$(LOCK_COMPILE) --upgrade

# The wheel and sdist, checked by twine; then the wheel alone (with torch) in a clean venv.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/twine check --strict dist/*

wheel-check: dist
	.ci/wheel-check dist/roofscope-*.whl

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/speed.py

clean:
	rm -rf $(VENV) .venv-latest dist build

comma := ,
