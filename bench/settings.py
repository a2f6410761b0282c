"""
The production settings, plus the benchmark's reference views (bench.urls).

Selected with ``DJANGO_SETTINGS_MODULE=bench.settings`` by ``python -m bench``
only: the reference views never reach the production URLconf. Everything
else (middleware, sessions, database, cache, policy checks) is
ventures.settings, read from the same environment.

Three variables let the benchmark measure a variant side by side with the
app as it is; unset (the main configurations), nothing differs from
production:

- ``BENCH_SESSION_ENGINE``: another session store (bench.compiled_store,
  the app's previous hand-compiled lookup, as a baseline).
- ``BENCH_HEALTH_CHECK``: how a reused connection is checked before each
  request's first query. ``select1``: Django's own PostgreSQL backend, whose
  check is a ``SELECT 1`` round trip, as the app ran until issue 17 (it now
  reads the connection's socket, ventures.postgresql); ``none``: not at all.
- ``BENCH_CLIENT_SIDE_BINDING=true``: Django's defaults for psycopg, which
  the app overrides on PostgreSQL: parameters bound on the client and no
  prepared statements (no ``server_side_binding``, ``prepare_threshold``
  None), so PostgreSQL parses and plans the session query for every request,
  as it did before the app turned server-side binding on.
"""

import os

from ventures.settings import *  # noqa: F403
from ventures.settings import DATABASES

ROOT_URLCONF = "bench.urls"

# The main configuration runs without Redis on purpose, to measure what
# REDIS_URL changes; nothing here counts logins against a limit that matters.
SILENCED_SYSTEM_CHECKS = ["ventures.E070"]

if os.environ.get("BENCH_SESSION_ENGINE"):
    SESSION_ENGINE = os.environ["BENCH_SESSION_ENGINE"]
if os.environ.get("BENCH_HEALTH_CHECK") == "select1":
    DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
elif os.environ.get("BENCH_HEALTH_CHECK") == "none":
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
if os.environ.get("BENCH_CLIENT_SIDE_BINDING", "").lower() == "true":
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.pop("server_side_binding", None)
    options["prepare_threshold"] = None
