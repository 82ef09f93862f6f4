# The README's commands. Everything a fresh clone needs is made here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint-imports test-sqlite test-services bench migrate clean

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $@

# Development settings for the embedded setup; production sets its own (README, Deploying).
run migrate: export DEBUG ?= true

migrate: $(VENV)/.installed
	$(PY) manage.py migrate --noinput

## make run: the whole app (daphne + background workers) on http://127.0.0.1:8000
run: migrate
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py runall

## make test: the import contracts, then the whole suite on SQLite, then again on real PostgreSQL and Redis
test: $(VENV)/.installed
	scripts/services.sh install
	$(MAKE) lint-imports
	$(MAKE) test-sqlite
	$(MAKE) test-services

## make lint-imports: imports point one way only (.importlinter)
lint-imports: $(VENV)/.installed
	$(VENV)/bin/lint-imports

test-sqlite: $(VENV)/.installed
	$(PY) -m pytest -q

test-services: $(VENV)/.installed
	scripts/test-with-services.sh $(PY) -m pytest -q

bench: $(VENV)/.installed
	scripts/services.sh install
	scripts/test-with-services.sh $(PY) -m bench.run

clean:
	rm -rf $(VENV) staticfiles
