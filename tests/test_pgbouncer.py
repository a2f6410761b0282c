"""
What DATABASE_POOLER=transaction relies on, asked of Debian's PgBouncer run
from deploy/pgbouncer.ini (devstack.pgbouncer) with one server connection, so
that every client shares it: prepared statements do not survive there, and
the one piece of session state Django sets, TimeZone, does. The app through
PgBouncer, under load: tests/test_stack.py.
"""

import psycopg
import pytest
from psycopg import errors

from devstack.pgbouncer import PgBouncer
from devstack.postgres import SharedDatabase

pytestmark = pytest.mark.slow

# Not UTC, not the machine's: what a server's default could be.
ELSEWHERE = "Pacific/Chatham"


@pytest.fixture(scope="module")
def pgbouncer(tmp_path_factory):
    with SharedDatabase() as database:
        with psycopg.connect(database.url.rsplit("/", 1)[0] + "/postgres") as admin:
            admin.autocommit = True
            admin.execute(
                f"ALTER DATABASE {database.name} SET TimeZone = '{ELSEWHERE}'"
            )
        running = PgBouncer(
            tmp_path_factory.mktemp("pgbouncer"), database.url, default_pool_size=1
        )
        running.start()
        try:
            yield running
        finally:
            running.stop()


def client(pgbouncer, prepare_threshold=None):
    """A connection as Django makes one: nothing prepared unless asked."""
    return psycopg.connect(
        pgbouncer.url, autocommit=True, prepare_threshold=prepare_threshold
    )


def test_prepared_statements_break_behind_a_transaction_pooler(pgbouncer):
    """
    The bug DATABASE_POOLER=transaction avoids: psycopg names its prepared
    statements per client connection (_pg3_0, ...), but they live on the
    server connection, which the next client gets.
    """
    with (
        client(pgbouncer, prepare_threshold=0) as first,
        client(pgbouncer, prepare_threshold=0) as second,
    ):
        try:
            first.execute("SELECT %s::int", [1])
            with pytest.raises(errors.DuplicatePreparedStatement, match="_pg3_0"):
                second.execute("SELECT %s::int", [2])
        finally:
            # It stays on the server connection for the next tests' clients.
            with client(pgbouncer) as cleaner:
                cleaner.execute("DEALLOCATE ALL")


def test_without_prepared_statements_clients_share_a_server_connection(pgbouncer):
    """Django's defaults, which DATABASE_POOLER=transaction keeps: nothing prepared."""
    with client(pgbouncer) as first, client(pgbouncer) as second:
        for n in range(10):
            for connection in (first, second):
                assert connection.execute("SELECT %s::int", [n]).fetchone() == (n,)


def test_the_deploy_file_starts_every_server_connection_in_utc(pgbouncer):
    """Django finds UTC in the parameters it is told, so it sends no SET at all."""
    with client(pgbouncer) as connection:
        assert connection.info.parameter_status("TimeZone") == "UTC"
        assert connection.execute("SHOW TimeZone").fetchone() == ("UTC",)


def test_a_time_zone_set_by_one_client_follows_it_not_the_server_connection(
    pgbouncer,
):
    """
    Were Django to SET TimeZone, PgBouncer replays it on whichever server
    connection each of that client's transactions gets, and on no other
    client's: both share the pool's one server connection here.
    """
    with client(pgbouncer) as tokyo, client(pgbouncer) as other:
        tokyo.execute("SET TimeZone TO 'Asia/Tokyo'")
        for _ in range(3):
            assert tokyo.execute("SHOW TimeZone").fetchone() == ("Asia/Tokyo",)
            assert other.execute("SHOW TimeZone").fetchone() == ("UTC",)
        servers = {
            c.execute("SELECT pg_backend_pid()").fetchone() for c in (tokyo, other)
        }
        assert len(servers) == 1
