# The two commands a newcomer needs: `make run` (the demo) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

# The scale-out pass runs against the real PostgreSQL and Redis servers of this machine.
SCALEOUT_ENV := DATABASE_URL=postgres://postgres@127.0.0.1:5432/bartender \
	REDIS_URL=redis://127.0.0.1:6379/15 SECRET_KEY=test-only-secret-key \
	ENCRYPTION_KEY=dGVzdC1vbmx5LWtleS1mb3Itc2NhbGUtb3V0LXRlc3Q=

.PHONY: run test lint bench chaos migrate clean

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

# The fast tier first (`-m "not slow"`, on both cores: under a minute), then the slow ones: real clusters, Chromium,
# and the scale-out pass.
test: $(DEV_STAMP)
	bash scripts/services.sh
	bash scripts/browser.sh
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	DATA_DIR=$(CURDIR)/var/test $(PY) -m pytest -p no:cacheprovider -m "not slow" -n 2
	DATA_DIR=$(CURDIR)/var/test $(PY) -m pytest -p no:cacheprovider -m "slow and not scaleout"
	$(SCALEOUT_ENV) DATA_DIR=$(CURDIR)/var/test-scaleout $(PY) -m pytest -p no:cacheprovider -m scaleout

bench: $(DEV_STAMP)
	bash scripts/services.sh
	$(PY) bench/run.py

# The fault run (README "Fault run"): restarts this machine's PostgreSQL and Redis; not in `make test`.
chaos: $(DEV_STAMP)
	bash scripts/services.sh
	$(PY) bench/chaos.py

clean:
	rm -rf $(VENV) var
