from django.apps import AppConfig


class VenturesConfig(AppConfig):
    name = "ventures"

    def ready(self):
        # Importing the module registers the production policy's checks.
        from ventures import checks  # noqa: F401
