"""
A read on a persistent connection that PostgreSQL dropped runs once more on
a new connection; nothing else is retried. Against a PostgreSQL of its own
(devstack.postgres.ThrowawayPostgres), which these tests restart. The same
through gunicorn: tests/test_stack.py (the PostgreSQL restarts).
"""

import logging

import environ
import pytest
from django.db import OperationalError, connections, transaction

from devstack.postgres import ThrowawayPostgres
from ventures.reconnect import read_once_more_if_dropped

pytestmark = pytest.mark.slow

ALIAS = "throwaway"


@pytest.fixture(scope="module")
def postgres():
    with ThrowawayPostgres() as running:
        yield running


@pytest.fixture
def alias(postgres, django_db_blocker):
    """An alias on the throwaway PostgreSQL, connected as the app connects."""
    config = environ.Env.db_url_config(postgres.url)
    config.update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=False)
    both = {"default": connections.settings["default"], ALIAS: config}
    connections.settings[ALIAS] = connections.configure_settings(both)[ALIAS]
    with django_db_blocker.unblock():
        yield ALIAS
        connections[ALIAS].close()
    del connections[ALIAS]
    del connections.settings[ALIAS]
    if not postgres.running():
        postgres.start()


class Reads:
    """A read that counts its runs: which server process answered."""

    def __init__(self, alias):
        self.alias = alias
        self.runs = 0

    def __call__(self):
        self.runs += 1
        with connections[self.alias].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]


def restart(postgres):
    postgres.stop("fast")
    postgres.start()


def test_a_read_on_a_connection_a_restart_dropped_runs_once_more(
    alias, postgres, caplog
):
    read = Reads(alias)
    before = read()
    restart(postgres)

    with caplog.at_level(logging.WARNING, logger="ventures.reconnect"):
        after = read_once_more_if_dropped(alias, read)

    assert after != before  # a new server process: a new connection
    assert read.runs == 3
    assert "connection was dropped" in caplog.text


def test_without_it_the_same_read_fails(alias, postgres):
    """The control: a restart does break a persistent connection."""
    read = Reads(alias)
    read()
    restart(postgres)
    with pytest.raises(OperationalError):
        read()


def test_a_database_that_is_down_is_not_asked_twice(alias, postgres):
    read = Reads(alias)
    postgres.stop("fast")
    with pytest.raises(OperationalError):
        read_once_more_if_dropped(alias, read)
    assert read.runs == 1


def test_a_connection_that_died_while_down_is_asked_once_more_then_fails(
    alias, postgres
):
    """The connection was dropped, and the new one cannot be opened: 503 then."""
    read = Reads(alias)
    read()
    postgres.stop("fast")
    with pytest.raises(OperationalError):
        read_once_more_if_dropped(alias, read)
    assert read.runs == 3


def test_a_failure_that_leaves_the_connection_usable_is_not_retried(alias):
    """A timeout, run again, would only time out again (and load the server twice)."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 50")
    runs = []

    def slow():
        runs.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(1)")

    try:
        with pytest.raises(OperationalError, match="statement timeout"):
            read_once_more_if_dropped(alias, slow)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
    assert len(runs) == 1


def test_nothing_is_retried_inside_a_transaction(alias, postgres):
    """Closing the connection would end the transaction behind atomic's back."""
    read = Reads(alias)

    def in_a_transaction():
        with transaction.atomic(using=alias):
            read()
            restart(postgres)
            read_once_more_if_dropped(alias, read)

    with pytest.raises(OperationalError):
        in_a_transaction()
    assert read.runs == 2
