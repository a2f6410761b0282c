"""
ventures.postgresql: a persistent connection that PostgreSQL dropped is
found before a request's first query, without asking the server anything,
and replaced. Against a PostgreSQL of its own (devstack.postgres.
ThrowawayPostgres), which these tests restart. The same through gunicorn:
tests/test_stack.py (the PostgreSQL restarts).
"""

import os
import signal

import environ
import psycopg
import pytest
from django.db import OperationalError, connections

from devstack.postgres import ThrowawayPostgres

pytestmark = pytest.mark.slow

ALIAS = "throwaway"


@pytest.fixture(scope="module")
def postgres():
    with ThrowawayPostgres() as running:
        yield running


def connect(postgres, engine, checks):
    config = environ.Env.db_url_config(postgres.url)
    config.update(ENGINE=engine, CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=checks)
    both = {"default": connections.settings["default"], ALIAS: config}
    connections.settings[ALIAS] = connections.configure_settings(both)[ALIAS]
    return connections[ALIAS]


@pytest.fixture
def alias(postgres, django_db_blocker, request):
    """An alias on the throwaway PostgreSQL, connected as the app connects."""
    engine, checks = getattr(request, "param", ("ventures.postgresql", True))
    with django_db_blocker.unblock():
        connect(postgres, engine, checks)
        yield ALIAS
        connections[ALIAS].close()
    del connections[ALIAS]
    del connections.settings[ALIAS]
    if not postgres.running():
        postgres.start()


def serve(alias):
    """
    What one request does with the connection: Django's request_started
    check (gunicorn sends the signal), then a first query. Which server
    process answered.
    """
    connection = connections[alias]
    connection.close_if_unusable_or_obsolete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def restart(postgres):
    postgres.stop("fast")
    postgres.start()


def test_the_request_after_a_restart_runs_on_a_new_connection(alias, postgres):
    before = serve(alias)
    assert serve(alias) == before  # persistent
    restart(postgres)
    assert serve(alias) != before


def test_a_connection_the_server_ended_is_replaced(alias, postgres):
    """pg_terminate_backend, PgBouncer's restart, an idle timeout: the same goodbye."""
    before = serve(alias)
    with psycopg.connect(postgres.url, autocommit=True) as other:
        # Returns once the server process has gone.
        other.execute("SELECT pg_terminate_backend(%s, 5000)", [before])
    assert serve(alias) != before


@pytest.mark.parametrize(
    "alias", [("django.db.backends.postgresql", False)], indirect=True
)
def test_without_the_check_the_first_query_after_a_restart_fails(alias, postgres):
    """The control: a restart does break an unchecked persistent connection."""
    serve(alias)
    restart(postgres)
    with pytest.raises(OperationalError):
        serve(alias)


def test_the_check_asks_the_server_nothing(alias):
    """
    With the server process of the connection frozen, Django's SELECT 1
    would wait for it; the socket answers at once.
    """
    pid = serve(alias)
    connection = connections[alias]
    os.kill(pid, signal.SIGSTOP)
    try:
        assert connection.is_usable()
    finally:
        os.kill(pid, signal.SIGCONT)


def test_an_open_or_failed_transaction_is_not_reused(alias):
    connection = connections[alias]
    serve(alias)
    raw = connection.connection
    raw.execute("BEGIN")
    assert not connection.is_usable()
    with pytest.raises(psycopg.errors.DivisionByZero):
        raw.execute("SELECT 1/0")
    assert not connection.is_usable()  # failed: only a rollback ends it
    raw.execute("ROLLBACK")
    assert connection.is_usable()


def test_a_closed_connection_is_not_usable(alias):
    connection = connections[alias]
    serve(alias)
    connection.connection.close()
    assert not connection.is_usable()
