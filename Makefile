# Two commands on a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
HOST   ?= 127.0.0.1

.PHONY: run test lint format migrations-check deploy-check bench clean

$(VENV)/.run-deps: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-deps: $(VENV)/.run-deps requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

# Web (gunicorn), worker and beat (one `celery worker -B`) on SQLite and the
# filesystem broker under var/. DEBUG defaults to on here only.
run: export DEBUG ?= 1
run: export PORTAL_BASE_URL ?= http://$(HOST):$(PORT)
run: $(VENV)/.run-deps
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py demo
	@echo ""
	@echo "Portal: http://$(HOST):$(PORT)/   (health: http://$(HOST):$(PORT)/healthz)"
	@echo ""
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" HOST=$(HOST) $(VENV)/bin/honcho start -f Procfile -p $(PORT)

test: $(VENV)/.dev-deps
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.dev-deps
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

migrations-check: $(VENV)/.dev-deps
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

# What `manage.py check --deploy` says under production-like settings.
deploy-check: $(VENV)/.dev-deps
	DEBUG=0 SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	ALLOWED_HOSTS=portal.example.com $(PY) manage.py check --deploy --fail-level WARNING

bench: $(VENV)/.dev-deps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
