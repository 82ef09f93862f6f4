from django.apps import AppConfig


class LibConfig(AppConfig):
    name = "lib"
    verbose_name = "Shared helpers"

    def ready(self):
        # Imported here, once settings are configured (Django's convention for checks).
        from lib import checks  # noqa: F401  (registers the system checks)
