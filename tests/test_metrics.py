"""/metrics: who may read it, and what the app counts."""

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from prometheus_client import REGISTRY, generate_latest

from lib import metrics, resilience
from interviews import turns
from interviews.engine import llm
from interviews.engine.base import InterviewContext
from interviews.engine.llm import LLMEngine
from tests.factories import make_interview
from tests.scripted_engine import ScriptedEngine

OUTSIDE = "203.0.113.9"


def sample(name, labels=None):
    return REGISTRY.get_sample_value(name, labels or {}) or 0


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.METRICS_TOKEN = "scrape-token-123"
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1", "::1", "10.0.0.0/8"]
    return settings


def test_it_serves_metrics_in_debug(client, db, settings):
    settings.DEBUG = True
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE)
    assert response.status_code == 200
    body = response.content.decode()
    assert "django_http_requests_latency_seconds_by_view_method" in body
    assert "interviewer_turn_overhead_seconds" in body


def test_it_hides_metrics_from_outsiders_in_production(client, production):
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 404
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="scrape-token-123").status_code == 404


def test_it_refuses_an_empty_token_when_none_is_configured(client, production):
    production.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_it_serves_metrics_with_the_token(client, db, production):
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer scrape-token-123")
    assert response.status_code == 200


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.20.30.40"])
def test_it_serves_metrics_to_allowlisted_addresses(client, db, production, address):
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == 200


def test_it_does_not_trust_forwarded_addresses(client, production):
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 404


def test_it_reports_active_interviews_from_the_database(client, db, owner, production):
    make_interview(owner)
    make_interview(owner, status="completed")
    body = client.get("/metrics").content.decode()
    assert "interviewer_interviews_active 1.0" in body


def test_it_counts_started_and_completed_interviews(db, owner):
    started, completed = sample("interviewer_interviews_started_total"), sample("interviewer_interviews_completed_total")
    interview = make_interview(owner)
    interview.add_interviewer_turn("introduction", "Hello, first question?")
    assert interview.end_early() and not interview.end_early()
    assert sample("interviewer_interviews_started_total") == started + 1
    assert sample("interviewer_interviews_completed_total") == completed + 1


@pytest.mark.django_db(transaction=True)
async def test_it_observes_turn_latency_split_into_model_and_overhead(owner, monkeypatch):
    monkeypatch.setattr(turns, "get_engine", lambda: ScriptedEngine())
    interview = await database_sync_to_async(make_interview)(owner)
    names = ["interviewer_turn_total_seconds_count", "interviewer_turn_model_seconds_count", "interviewer_turn_overhead_seconds_count", "interviewer_turn_first_token_seconds_count"]
    before = [sample(n) for n in names]
    model_before = sample("interviewer_turn_model_seconds_sum")
    assert await turns.run_interviewer_turn(interview.id) is not None
    assert [sample(n) for n in names] == [b + 1 for b in before]
    # The scripted engine reports 5 ms of model time.
    assert sample("interviewer_turn_model_seconds_sum") - model_before == pytest.approx(0.005)


async def test_it_counts_model_calls_errors_and_retries_by_provider(settings, monkeypatch):
    settings.INTERVIEW_LLM_RETRIES = 1
    monkeypatch.setattr(resilience, "BACKOFF_BASE_SECONDS", 0.0)
    messages = iter([AIMessage(content="not json at all"), AIMessage(content="still not json")])
    engine = LLMEngine("fakeprovider:model", model=GenericFakeChatModel(messages=messages))
    labels = {"provider": "fakeprovider", "outcome": "bad_response"}
    before = sample("interviewer_provider_calls_total", labels), sample("interviewer_provider_retries_total", {"provider": "fakeprovider"})
    with pytest.raises(llm.EngineError):
        await engine.report(InterviewContext(job_role="Backend Engineer"), [])
    assert sample("interviewer_provider_calls_total", labels) == before[0] + 2
    assert sample("interviewer_provider_retries_total", {"provider": "fakeprovider"}) == before[1] + 1
    assert sample("interviewer_provider_errors_total", {"provider": "fakeprovider"}) >= 2


def test_it_offers_helpers_for_rate_limits_and_streams():
    before = sample("interviewer_rate_limited_total", {"scope": "answer"})
    metrics.rate_limited("answer")
    assert sample("interviewer_rate_limited_total", {"scope": "answer"}) == before + 1
    open_before = sample("interviewer_live_streams_open")
    metrics.stream_opened()
    assert sample("interviewer_live_streams_open") == open_before + 1
    metrics.stream_closed()
    assert sample("interviewer_live_streams_open") == open_before


def test_it_scrapes_without_a_database():
    # No db fixture: the collector says nothing rather than failing the scrape.
    assert b"interviewer_interviews_active " not in generate_latest(REGISTRY)


async def test_it_never_queries_the_database_on_the_event_loop(db):
    assert b"interviewer_interviews_active " not in generate_latest(REGISTRY)
    assert b"interviewer_interviews_active " in await sync_to_async(generate_latest)(REGISTRY)
