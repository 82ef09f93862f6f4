import pytest
from django.core.checks import Error, run_checks

from lib import checks


def ids(settings):
    return {m.id for m in run_checks() if m.id and m.id.startswith("interviewer.")}


def test_it_accepts_the_embedded_defaults_in_debug(settings):
    settings.DEBUG = True
    assert ids(settings) == set()


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_it_refuses_the_in_memory_channel_layer_and_dev_secret_in_production(settings):
    settings.DEBUG = False
    settings.DATABASES = {**settings.DATABASES, "default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.sqlite3"}}
    settings.SECRET_KEY = "dev-only-insecure-key-change-me"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert {"interviewer.E001", "interviewer.E002", "interviewer.W001"} <= ids(settings)


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_it_accepts_production_settings(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = "a-real-secret-" + "x" * 40
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {}}}
    settings.DATABASES = {**settings.DATABASES, "default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.postgresql"}}
    assert ids(settings) == set()


def test_several_web_processes_need_a_shared_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.WEB_PROCESSES = 2
    (problem,) = checks.web_processes(None)
    assert isinstance(problem, Error) and problem.id == "interviewer.E003"
    assert "REDIS_URL" in problem.hint

    settings.WEB_PROCESSES = 1
    assert checks.web_processes(None) == []
    settings.WEB_PROCESSES = 0
    assert [p.id for p in checks.web_processes(None)] == ["interviewer.E003"]


def test_several_web_processes_on_redis_pass_the_check(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {}}}
    settings.WEB_PROCESSES = 2
    assert checks.web_processes(None) == []
