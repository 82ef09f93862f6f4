"""System checks that stop a production deployment with embedded-only settings."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def web_processes(app_configs, **kwargs):
    """Several web processes share interview events through the channel layer: not the in-memory one."""
    if settings.WEB_PROCESSES < 1:
        return [Error("WEB_PROCESSES must be at least 1.", id="interviewer.E003")]
    if settings.WEB_PROCESSES > 1 and settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer"):
        return [
            Error(
                f"WEB_PROCESSES is {settings.WEB_PROCESSES}, but the in-memory channel layer only works in one process.",
                hint="Set REDIS_URL, or WEB_PROCESSES=1.",
                id="interviewer.E003",
            )
        ]
    return []


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
