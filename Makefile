# The two commands of a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
WEB_CONCURRENCY ?= 3

.PHONY: run test docs install lint format check-migrations openapi roundtrip pytest migrate serve worker db-stop psql clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

## run: install, migrate, make sure an operator login exists, then the Procfile: web on http://$(HOST):$(PORT) + worker
run: install migrate
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py ensure_operator
	rm -rf var/prometheus && mkdir -p var/prometheus
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" HOST=$(HOST) WEB_CONCURRENCY=$(WEB_CONCURRENCY) \
		PROMETHEUS_MULTIPROC_DIR=$${PROMETHEUS_MULTIPROC_DIR:-$(CURDIR)/var/prometheus} \
		MCPADMIN_LOG_FORMAT=$${MCPADMIN_LOG_FORMAT:-$$([ -t 1 ] && echo plain || echo json)} \
		$(VENV)/bin/honcho start --procfile Procfile --port $(PORT)

migrate: install
	$(PY) manage.py migrate --noinput

## serve / worker: one process of the Procfile alone
serve:
	$(VENV)/bin/gunicorn mcpadmin.wsgi --bind $(HOST):$(PORT) --workers $(WEB_CONCURRENCY) \
		--timeout 60 --graceful-timeout 10

worker: install
	$(PY) manage.py run_worker

## test: lint, migrations check, the docs site, migration round trip on a populated database, pytest
test: install lint check-migrations openapi docs roundtrip pytest

## docs: the documentation site, docs/ -> site/ (open site/index.html): reference pages current (else it fails
## naming them: run tools/docs_reference.py), the OpenAPI schema generated, mkdocs build --strict (broken links fail)
docs: install
	$(PY) tools/docs_reference.py --check --openapi
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

## lint: ruff, the layers (import-linter contracts in pyproject.toml), no private names or lazy imports across modules
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) tools/check_imports.py

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check-migrations: install
	$(PY) manage.py makemigrations --check --dry-run

openapi: install
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

roundtrip: install
	$(PY) -m tests.roundtrip

pytest: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## db-stop: stop the embedded PostgreSQL if something left it running
db-stop:
	-$(PY) -m mcpadmin.embedded_db stop

## psql: a psql shell on the configured database
psql: install
	if [ -n "$$DATABASE_URL" ]; then $(PY) manage.py dbshell; else $(PY) -m mcpadmin.embedded_db psql; fi

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache site

.PHONY: schema-gap

## schema-gap: does the configured database hold exactly what the migrations build? (exit 0 / 1 gap / 2 could not check)
schema-gap: install
	$(PY) manage.py schema_gap
