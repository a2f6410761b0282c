"""Fixtures of the session tests: a frozen clock the timeouts are measured on."""

from datetime import UTC, datetime, timedelta

import pytest

# When the session tests' clock stands; timeouts are counted from here.
T0 = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine):
    """
    A frozen clock at T0; ``clock(hours=1, seconds=-1)`` moves it to that
    offset from T0. Ask for it before the fixtures that log in.
    """
    time_machine.move_to(T0, tick=False)

    def at(**delta):
        time_machine.move_to(T0 + timedelta(**delta), tick=False)

    return at
