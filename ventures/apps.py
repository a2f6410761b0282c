from django.apps import AppConfig


class VenturesConfig(AppConfig):
    name = "ventures"

    def ready(self):
        from django.core.signals import got_request_exception
        from django.db.backends.signals import connection_created

        # Importing the module registers the production policy's checks.
        from ventures import checks, health, metrics  # noqa: F401

        connection_created.connect(metrics.watch_connection)
        got_request_exception.connect(metrics.record_request_exception)
        metrics.collect_at_scrape(health.ReadinessCollector())
