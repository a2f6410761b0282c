"""
bench.lookups, the session lookups make bench times in-process: each finds
the bench's session with owner and membership on this database, and the
report renders their table and keeps its prose when a run lacks them.
"""

import pytest
from django.db import connection

from accounts.models import PatreonMembership, User
from bench import lookups
from bench.report import lookup_section
from sessions.models import Session

pytestmark = pytest.mark.django_db


def test_the_three_lookups_are_timed_on_one_session_then_it_is_gone():
    timed = lookups.measure(repeats=2, count=5)
    names = [name for name, _ in lookups.LOOKUPS]
    assert list(timed["ms"]) == names
    assert all(len(timed["samples"][name]) == 2 for name in names)
    assert all(timed["ms"][name] > 0 for name in names)
    assert timed["vendor"] == connection.vendor
    assert not Session.objects.exists()
    assert not User.objects.exists()
    assert not PatreonMembership.objects.exists()
    section = lookup_section({"lookups": timed})
    assert section.count("| 1.00x |") == 2  # before against itself, ORM too
    assert f"row's {timed['columns']} columns" in section


def test_the_table_gives_each_lookup_against_before_and_the_orm():
    best = {"before": 0.2, "orm": 1.0, "now": 0.4}
    section = lookup_section(
        {
            "lookups": {
                "vendor": "postgresql",
                "repeats": 5,
                "count": 1000,
                "columns": 39,
                "loadavg": [1.5, 2.0, 2.5],
                "ms": best,
                "samples": {name: [ms, ms * 2, ms * 3] for name, ms in best.items()},
            }
        }
    )
    assert "| 0.200 | 0.400 | 1.00x | 0.20x |" in section
    assert "| 1.000 | 2.000 | 5.00x | 1.00x |" in section
    assert "| 0.400 | 0.800 | 2.00x | 0.40x |" in section
    assert "The ORM lookup costs 2.5x the app's lookup" in section
    assert "the app's costs 2.0x the hand-compiled baseline" in section
    assert "PostgreSQL database" in section
    assert "best of 5 x 1,000 lookups" in section


def test_a_run_without_them_keeps_the_sections_prose():
    section = lookup_section({})
    assert "(not measured in this run)" in section
    assert "How, through public API only" in section
    assert "the row's columns" in section
