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


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]", "testserver"}


@register()
def development_secret_key(app_configs, **kwargs):
    """The development key is public: it may sign sessions only on a machine
    nobody else can reach, so never with DEBUG off (a deploy that forgot its
    settings) nor with a public host name, whatever DEBUG says."""
    if not settings.SECRET_KEY.startswith("dev-only"):
        return []
    local_only = set(settings.ALLOWED_HOSTS) <= LOCAL_HOSTS
    if settings.DEBUG and local_only:
        return []
    why = "DEBUG is off" if not settings.DEBUG else f"ALLOWED_HOSTS is not local-only ({', '.join(settings.ALLOWED_HOSTS)})"
    return [Error(f"SECRET_KEY is the public development default, and {why}.", hint="Set SECRET_KEY to a long random value.", id="interviewer.E002")]


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
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        problems.append(
            Warning(
                "SQLite serves one machine only.",
                hint="Set DATABASE_URL to a PostgreSQL database to run several hosts.",
                id="interviewer.W001",
            )
        )
    return problems
