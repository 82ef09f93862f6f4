"""System checks that stop a production deployment with embedded-only settings."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def production_settings(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    problems = []
    if settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer"):
        problems.append(
            Error(
                "The in-memory channel layer only works in a single process.",
                hint="Set REDIS_URL so every web process shares one channel layer.",
                id="interviewer.E001",
            )
        )
    if settings.SECRET_KEY.startswith("dev-only"):
        problems.append(Error("SECRET_KEY is the development default.", hint="Set SECRET_KEY.", id="interviewer.E002"))
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        problems.append(
            Warning(
                "SQLite serves one machine only.",
                hint="Set DATABASE_URL to a PostgreSQL database to run several hosts.",
                id="interviewer.W001",
            )
        )
    return problems
