# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FAKE_PATREON_PORT ?= 8765

.PHONY: run test lint bench system-deps

$(VENV)/.run-deps: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-deps: $(VENV)/.run-deps requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# Development: SQLite, a random local secret key and the fake Patreon, unless
# the environment (or .env) says otherwise.
run: export DEBUG ?= true
run: export PATREON_BASE_URL ?= http://127.0.0.1:$(FAKE_PATREON_PORT)
run: export PATREON_CLIENT_ID ?= fake-client-id
run: export PATREON_CLIENT_SECRET ?= fake-client-secret
run: export PATREON_CAMPAIGN_ID ?= 9000001
run: $(VENV)/.run-deps
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python -m fake_patreon --port $(FAKE_PATREON_PORT) & fake=$$!; \
	trap 'kill $$fake' EXIT INT TERM; \
	$(BIN)/python manage.py runserver 127.0.0.1:8000

# What the stack and browser tests run besides the machine's PostgreSQL, from
# Debian's packages: nginx, Chromium, openssl, envsubst, redis-server, the
# PostgreSQL client tools, and a PostgreSQL 15 server of their own (initdb,
# pg_ctl) for the tests that stop and restart it.
SYSTEM_COMMANDS := nginx chromium openssl envsubst redis-server createdb \
	/usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/pg_ctl
SYSTEM_PACKAGES := nginx chromium openssl gettext-base redis-server \
	postgresql-client postgresql-15
system-deps:
	@missing=; for c in $(SYSTEM_COMMANDS); do \
		PATH="$$PATH:/usr/sbin:/sbin" command -v $$c >/dev/null || missing="$$missing $$c"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing from Debian's packages (missing:$$missing)"; \
		apt-get update -qq && apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

test: $(VENV)/.test-deps system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(VENV)/.bench-deps: $(VENV)/.test-deps bench/requirements.txt
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	touch $@

# The benchmark (docs/performance.md): wrk from Debian's packages too.
bench: $(VENV)/.bench-deps system-deps
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
