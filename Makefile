# The two commands a newcomer needs: `make run` (the demo) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint bench migrate clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py demo
	$(PY) manage.py serve --addr 127.0.0.1:8000

test: $(DEV_STAMP)
	bash scripts/services.sh
	bash scripts/browser.sh
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -p no:cacheprovider

bench: $(DEV_STAMP)
	bash scripts/services.sh
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var
