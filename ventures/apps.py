from django.apps import AppConfig
from django.core import checks


class VenturesConfig(AppConfig):
    name = "ventures"

    def ready(self):
        from ventures.checks import check_production_policy

        checks.register(check_production_policy, checks.Tags.security)
