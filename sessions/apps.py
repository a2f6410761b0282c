from django.apps import AppConfig
from django.core import checks


class SessionsConfig(AppConfig):
    """The session subsystem: rows, store, timeouts, middleware, admin, commands."""

    name = "sessions"
    # django.contrib.sessions shares the label; it is not installed here
    # (SESSION_ENGINE is sessions.store), and the two could not be.
    label = "sessions"
    verbose_name = "Sessions"

    def ready(self):
        from sessions.checks import check_cookie_age, check_middleware_order
        from sessions.metrics import ActiveSessionsCollector
        from ventures.metrics import collect_at_scrape

        checks.register(check_middleware_order)
        checks.register(check_cookie_age)
        collect_at_scrape(ActiveSessionsCollector())
