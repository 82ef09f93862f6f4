import pytest
from django.core.checks import run_checks


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
