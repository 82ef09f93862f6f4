"""/healthz (liveness) and /readyz (database, Redis, background workers)."""

import uuid

import pytest
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signing import SignedPackage
from django_q.status import Stat, Status


@pytest.fixture
def heartbeats(settings, monkeypatch):
    """An empty heartbeat store of our own, so a cluster running elsewhere on
    this machine (make run) cannot make these tests pass or fail."""
    if type(get_broker()).__name__ != "ORM":
        pytest.skip("heartbeats are faked through the ORM broker's cache")
    settings.CACHES = {**settings.CACHES, "test_q_status": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": f"q-{uuid.uuid4()}"}}
    monkeypatch.setattr(Conf, "CACHE", "test_q_status")

    def beat(status=Conf.IDLE, workers=2):
        stat = Status(pid=4242, cluster_id=uuid.uuid4())
        stat.status = status
        stat.workers = list(range(workers))
        get_broker().set_stat(Stat.get_key(stat.cluster_id), SignedPackage.dumps(stat, True), 3)
        return stat

    return beat


def test_it_answers_liveness_without_touching_the_database(client):
    # No db fixture: pytest-django fails any query this would make.
    response = client.get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"
    assert "no-cache" in response["Cache-Control"]


def test_it_is_not_ready_when_no_worker_sends_a_heartbeat(client, db, heartbeats):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["workers"] == {**body["checks"]["workers"], "ok": False, "running": 0, "required": 1}
    assert body["checks"]["workers"]["queues"] == ["default", "stt", "tts"]


def test_it_is_ready_with_a_live_cluster_and_lists_it_to_staff(client, staff, heartbeats):
    stat = heartbeats()
    client.force_login(staff)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    workers = response.json()["checks"]["workers"]
    assert workers["ok"] is True and workers["running"] == 1
    assert workers["clusters"][0]["id"] == str(stat.cluster_id)
    assert workers["clusters"][0]["status"] == "Idle" and workers["clusters"][0]["workers"] == 2


def test_it_counts_clusters_for_everyone_else(client, owner, heartbeats):
    heartbeats()
    for user in (None, owner):
        if user:
            client.force_login(user)
        workers = client.get("/readyz").json()["checks"]["workers"]
        assert workers["running"] == 1 and "clusters" not in workers


def test_it_does_not_count_a_stopping_cluster(client, db, heartbeats, settings):
    heartbeats(status=Conf.STOPPING)
    assert client.get("/readyz").status_code == 503
    settings.READYZ_MIN_CLUSTERS = 0
    settings.METRICS_TOKEN = "scrape-token-123"
    response = client.get("/readyz", HTTP_AUTHORIZATION="Bearer scrape-token-123")
    assert response.status_code == 200 and response.json()["checks"]["workers"]["clusters"][0]["status"] == "Stopping"


def test_it_is_not_ready_when_the_database_fails(client, db, heartbeats, monkeypatch):
    heartbeats()

    def broken(*args, **kwargs):
        raise ConnectionError("connection to server at 10.0.0.5 failed: secret details")

    with monkeypatch.context() as patched:
        patched.setattr("django.db.backends.utils.CursorWrapper.execute", broken)
        response = client.get("/readyz")
    assert response.status_code == 503
    database = response.json()["checks"]["database"]
    assert database == {"ok": False, "error": "ConnectionError"}
    assert b"10.0.0.5" not in response.content


def test_it_skips_redis_when_it_is_not_configured(client, db, heartbeats, settings):
    settings.REDIS_URL = ""
    heartbeats()
    assert client.get("/readyz").json()["checks"]["redis"] == {"ok": True, "skipped": "REDIS_URL is not set"}


def test_it_is_not_ready_when_redis_is_unreachable(client, db, heartbeats, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    heartbeats()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["redis"]["ok"] is False


@pytest.mark.redis
def test_it_pings_the_real_redis(client, db, heartbeats, settings):
    import os

    if not os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL is not set")
    settings.REDIS_URL = os.environ["REDIS_URL"]
    heartbeats()
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["checks"]["redis"]["ok"] is True


def test_it_answers_probes_over_plain_http_when_https_is_enforced(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/interviews/").status_code == 301
