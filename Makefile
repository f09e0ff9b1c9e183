PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install migrate demo clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=python3"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --no-input

# Set up the local console on the embedded SQLite database and serve it.
run: migrate
	$(PY) manage.py load_program default
	CELERY_TASK_ALWAYS_EAGER=true $(PY) manage.py load_demo
	$(PY) manage.py demo_admin
	CELERY_TASK_ALWAYS_EAGER=true DJANGO_DEBUG=true $(PY) manage.py runserver 127.0.0.1:8000

# The import direction (.importlinter), then the test suite on DATABASE_URL (SQLite by default).
test: install
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache .hypothesis
