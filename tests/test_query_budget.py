"""
The per-request SQL budget, pinned: a regression fails here, deterministically,
long before anyone runs the benchmark (bench/, docs/performance.md).

Counts are Django's queries (CaptureQueriesContext), which are all the
statements a request sends: the app's connection check before a request's
first query reads the socket and sends nothing (ventures.postgresql,
tests/test_postgresql.py).
"""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import PatreonMembership, User
from sessions.models import Session
from sessions.store import hash_key
from tests.patreon import log_in

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:sessions_session_changelist"
WRITES = ("INSERT", "UPDATE", "DELETE")
_numbers = itertools.count(1)


def queries(client, path, **params):
    """The SQL statements one GET of ``path`` runs; the answer must be ``status``."""
    status = params.pop("status", 200)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params)
    assert response.status_code == status, response.content[:300]
    return [q["sql"] for q in captured.captured_queries]


def writes(statements):
    return [sql for sql in statements if sql.lstrip().upper().startswith(WRITES)]


def test_authenticated_me_costs_exactly_one_query(patron):
    """The session row, its owner and the membership come in one query."""
    statements = queries(patron, "/api/auth/me")
    assert len(statements) == 1, statements
    [sql] = statements
    assert '"accounts_session"' in sql
    assert '"accounts_user"' in sql
    assert '"accounts_patreonmembership"' in sql


def test_the_budget_holds_on_every_request_not_only_the_first(patron):
    for _ in range(3):
        assert len(queries(patron, "/api/auth/me")) == 1


def test_a_staff_members_me_costs_one_query_too(superuser):
    assert len(queries(superuser, "/api/auth/me")) == 1


def test_the_forward_auth_check_costs_one_query_and_writes_nothing(patron):
    """The same lookup as /me: nginx asks it before every request it guards."""
    statements = queries(patron, "/api/auth/check", entitlement="supporter", status=204)
    assert len(statements) == 1, statements
    assert writes(statements) == []


def test_anonymous_me_without_a_cookie_costs_no_query(client):
    assert queries(client, "/api/auth/me", status=401) == []


def test_me_with_an_unknown_cookie_costs_one_query(client, settings):
    client.cookies[settings.SESSION_COOKIE_NAME] = "unknown0" * 4
    statements = queries(client, "/api/auth/me", status=401)
    assert len(statements) == 1, statements
    assert writes(statements) == []  # a wrong cookie creates no row


def test_the_session_list_costs_two_queries(patron):
    """The caller's session (with its owner), then their active sessions."""
    statements = queries(patron, "/api/auth/sessions")
    assert len(statements) == 2, statements


def test_the_session_list_costs_two_queries_however_many_sessions(
    patron, client_factory, fake_patreon
):
    for _ in range(5):
        log_in(client_factory(), "1001")
    response = patron.get("/api/auth/sessions")
    assert len(response.json()["sessions"]) == 6
    assert len(queries(patron, "/api/auth/sessions")) == 2


def test_csrf_costs_one_query_for_a_logged_in_caller(patron):
    statements = queries(patron, "/api/auth/csrf")
    assert len(statements) == 1, statements


def add_sessions(count):
    """``count`` live sessions of as many users, each with a membership."""
    now = timezone.now()
    numbers = [next(_numbers) for _ in range(count)]
    users = User.objects.bulk_create(
        User(username=f"budget-{n}", email=f"b{n}@example.test") for n in numbers
    )
    PatreonMembership.objects.bulk_create(
        PatreonMembership(
            user=user,
            patreon_id=f"{900000 + n}",
            campaign_id="9000001",
            synced_at=now,
        )
        for n, user in zip(numbers, users, strict=True)
    )
    Session.objects.bulk_create(
        Session(
            session_key=hash_key(f"budget-session-{user.pk}-{i}"),
            session_data="e30:budget",
            expire_date=now + timedelta(hours=1),
            user=user,
            created_at=now - timedelta(minutes=i),
            last_seen=now,
            ip="198.51.100.7",
            user_agent="Mozilla/5.0 (budget)",
        )
        for i, user in enumerate(users)
    )


def test_the_admin_session_list_costs_the_same_with_10_or_60_sessions(superuser):
    add_sessions(10)
    few = queries(superuser, reverse(CHANGELIST))
    add_sessions(50)  # 60 in all: more than one page of 50
    many = queries(superuser, reverse(CHANGELIST))
    assert len(many) == len(few), (few, many)
    # The staff member's session, the count (on PostgreSQL, the planner's
    # estimate first: EstimatedCountPaginator), the page (users and
    # memberships joined). A per-row query would show up as 60 more.
    assert len(few) <= 4, few


def test_the_admin_session_list_second_page_costs_the_same(superuser):
    add_sessions(60)
    first = queries(superuser, reverse(CHANGELIST))
    second = queries(superuser, reverse(CHANGELIST), p=2)
    assert len(second) == len(first)


def test_an_ordinary_request_writes_nothing(patron, settings):
    """Within SESSION_ACTIVITY_INTERVAL, authenticated requests only read."""
    assert settings.SESSION_ACTIVITY_INTERVAL > 0
    for path in ("/api/auth/me", "/api/auth/sessions", "/api/auth/csrf"):
        assert writes(queries(patron, path)) == [], path


def test_activity_is_written_once_the_interval_has_passed(
    patron, settings, time_machine
):
    """The same request writes once the interval is over: the test above bites."""
    time_machine.move_to(
        timezone.now() + timedelta(seconds=settings.SESSION_ACTIVITY_INTERVAL + 1)
    )
    statements = writes(queries(patron, "/api/auth/me"))
    assert len(statements) == 1, statements
    assert statements[0].lstrip().upper().startswith("UPDATE")
    # ... and then nothing again until the next interval.
    assert writes(queries(patron, "/api/auth/me")) == []
