import os

import pytest
from django.contrib.auth import get_user_model


def pytest_sessionstart(session):
    """Under REQUIRE_SERVICES (set by `make test`'s second pass), a missing
    PostgreSQL or Redis fails the run instead of quietly testing SQLite."""
    if os.environ.get("REQUIRE_SERVICES") != "true":
        return
    from django.conf import settings

    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.exit("REQUIRE_SERVICES is set but DATABASE_URL does not point at PostgreSQL", returncode=3)
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL).ping()
    except Exception as exc:
        pytest.exit(f"REQUIRE_SERVICES is set but Redis is unreachable: {exc}", returncode=3)


@pytest.fixture(autouse=True)
def background_turns(request, monkeypatch):
    """View tests check HTTP behaviour; the background turn they would start
    is recorded here instead of running on a loop that ends with the request.
    Tests marked `real_background` (and the async pipeline tests, which call
    interviews.turns directly) run the real thing."""
    if request.node.get_closest_marker("real_background"):
        yield None
        return
    started = []

    def record(coro):
        started.append(coro.__qualname__)
        coro.close()

    monkeypatch.setattr("interviews.turns.schedule", record)
    yield started


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    """Each test counts against its own rate-limit counters: the cache (and,
    on SQLite, reused user ids) would otherwise carry hits between tests."""
    import uuid

    settings.RATE_LIMIT_PREFIX = uuid.uuid4().hex


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("owner", "owner@example.com", "correct-horse-9")


@pytest.fixture
def other(db):
    return get_user_model().objects.create_user("other", "other@example.com", "correct-horse-9")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(
        "staff", "staff@example.com", "correct-horse-9", is_staff=True, is_superuser=True
    )


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture(autouse=True)
def fresh_breakers(settings):
    """Breakers are per process: each test starts with every one closed, so
    one test's failures cannot open another's. The model-call cap is off in
    the test process (most engine tests have no database, which the cap's
    slots need without Redis); tests/test_llm_caps.py turns it on, and the
    app's own processes in end-to-end tests run with the default."""
    from lib import resilience

    settings.CAP_LLM = 0
    resilience.reset_breakers()
    yield
    resilience.reset_breakers()


@pytest.fixture(autouse=True)
def fresh_provider_caps():
    """Cap slots live in Redis when REDIS_URL is set, beyond any test's
    transaction: clear them so one test's stream cannot hold another's slot.
    (The suite's Redis is a throwaway instance started by `make test`.)"""
    from django.conf import settings

    if settings.REDIS_URL:
        import redis

        from lib.caps import REDIS_KEY_PREFIX

        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=REDIS_KEY_PREFIX + "*"))
        if keys:
            client.delete(*keys)
        client.close()
    yield
