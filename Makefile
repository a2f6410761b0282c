# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Where `make run` serves the API, the example frontend and the fake Patreon.
API_PORT ?= 8000
FRONTEND_PORT ?= 8001
FAKE_PATREON_PORT ?= 8765

.PHONY: run manage test coverage lint bench system-deps peers

$(VENV)/.run-deps: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-deps: $(VENV)/.run-deps requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# The development environment, one definition for `make run` and `make manage`:
# DEBUG (SQLite, a random local secret key), the fake Patreon, and the example
# frontend as the frontend origin. Both are on localhost, on two ports: two
# origins (CORS and CSRF as in production) of one site, so the session cookie,
# SameSite=Lax and not Secure over plain HTTP, goes with the frontend's calls.
# A variable already in the environment wins; .env does not (make sets these).
DEV_TARGETS := run manage
$(DEV_TARGETS): export DEBUG ?= true
$(DEV_TARGETS): export FRONTEND_ORIGINS ?= http://localhost:$(FRONTEND_PORT)
$(DEV_TARGETS): export PATREON_BASE_URL ?= http://127.0.0.1:$(FAKE_PATREON_PORT)
$(DEV_TARGETS): export PATREON_CLIENT_ID ?= fake-client-id
$(DEV_TARGETS): export PATREON_CLIENT_SECRET ?= fake-client-secret
$(DEV_TARGETS): export PATREON_CAMPAIGN_ID ?= 9000001
$(DEV_TARGETS): export PATREON_WEBHOOK_SECRETS ?= fake-webhook-secret
$(DEV_TARGETS): export PATREON_ENTITLEMENTS ?= supporter:7001|7002|7003,early-access:7002|7003

run: $(VENV)/.run-deps
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python -m fake_patreon --port $(FAKE_PATREON_PORT) & fake=$$!; \
	$(BIN)/python -m devstack.frontend --port $(FRONTEND_PORT) \
		--api-origin http://localhost:$(API_PORT) & frontend=$$!; \
	trap 'kill $$fake $$frontend' EXIT INT TERM; \
	$(BIN)/python manage.py runserver localhost:$(API_PORT)

# manage.py in the environment of `make run`, e.g.
#   make manage ARGS="staff grant --patreon-id 1001"
manage: $(VENV)/.run-deps
	$(BIN)/python manage.py $(ARGS)

# What the stack and browser tests run besides the machine's PostgreSQL, from
# Debian's packages: nginx, Chromium, openssl, envsubst, redis-server, the
# PostgreSQL client tools, a PostgreSQL 15 server of their own (initdb,
# pg_ctl) for the tests that stop and restart it, PgBouncer (the stack through
# a transaction-mode pooler), and promtool (Debian's prometheus) checks and
# unit-tests deploy/prometheus/.
SYSTEM_COMMANDS := nginx chromium openssl envsubst redis-server createdb \
	/usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/pg_ctl pgbouncer \
	promtool
SYSTEM_PACKAGES := nginx chromium openssl gettext-base redis-server \
	postgresql-client postgresql-15 pgbouncer prometheus
system-deps:
	@missing=; for c in $(SYSTEM_COMMANDS); do \
		PATH="$$PATH:/usr/sbin:/sbin" command -v $$c >/dev/null || missing="$$missing $$c"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing from Debian's packages (missing:$$missing)"; \
		apt-get update -qq && apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

# The peers' own test suites, run against our code by tests/peers/: Django's
# session tests (tests/sessions_tests) and allauth's Patreon provider tests,
# from the source archives of the installed versions (only the sdists carry
# them), extracted into .peers/ once per version of requirements.txt.
PEERS := .peers
$(PEERS)/.extracted: $(VENV)/.run-deps
	rm -rf $(PEERS) && mkdir -p $(PEERS)/archives
	$(BIN)/python -m pip download --quiet --no-binary :all: --no-deps \
		--dest $(PEERS)/archives \
		Django==$$($(BIN)/python -c 'import django; print(django.__version__)') \
		django-allauth==$$($(BIN)/python -c 'import allauth; print(allauth.__version__)')
	tar xzf $(PEERS)/archives/django-*.tar.gz -C $(PEERS) \
		--wildcards --no-wildcards-match-slash \
		--transform 's,^[^/]*/tests/,,' '*/tests/sessions_tests/*'
	tar xzf $(PEERS)/archives/django_allauth-*.tar.gz -C $(PEERS) \
		--wildcards --no-wildcards-match-slash \
		--transform 's,^[^/]*/tests/,allauth_tests/,' \
		'*/tests/__init__.py' '*/tests/mocking.py' '*/tests/apps/__init__.py' \
		'*/tests/apps/socialaccount/__init__.py' \
		'*/tests/apps/socialaccount/base.py' \
		'*/tests/apps/socialaccount/providers/__init__.py' \
		'*/tests/apps/socialaccount/providers/patreon/*'
	touch $@

peers: $(PEERS)/.extracted

test: $(VENV)/.test-deps system-deps peers
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole suite, with the lines of our three packages it leaves unrun.
coverage: $(VENV)/.test-deps system-deps peers
	$(BIN)/python -m pytest --cov=ventures --cov=accounts --cov=sessions \
		--cov-report=term-missing:skip-covered $(PYTEST_ARGS)

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
