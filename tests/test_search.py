"""Web-searched learning resources (interviews/search.py): the real HTTP client
against a fake Serper on 127.0.0.1, failures included, and a cache that holds
no user data."""

import threading

import pytest
from django.core.cache import cache

from interviews import report, search, turns
from interviews.models import Interview, Turn
from lib import resilience
from tests.factories import answered
from tests.fakes.serper import fake_serper  # noqa: F401  (fixture)
from tests.scripted_engine import ScriptedEngine

# The cap's slots are rows (or Redis keys) that other threads must see at once.
pytestmark = pytest.mark.django_db(transaction=True)

AREAS = [{"area": "Structure: telling a story with STAR"}, {"area": "Specificity: results with numbers"}]


@pytest.fixture(autouse=True)
def fast(settings, monkeypatch):
    settings.SERPER_TIMEOUT_SECONDS = 0.5
    settings.SPEECH_RETRIES = 2
    monkeypatch.setattr(resilience, "BACKOFF_BASE_SECONDS", 0.01)
    resilience.reset_breakers()
    cache.clear()
    yield
    resilience.reset_breakers()
    cache.clear()


def test_it_builds_queries_from_the_role_and_a_fixed_skill_phrase_never_the_candidates_words():
    areas = [{"area": "Structure: you said 'I, John Smith, fixed the Henderson account'"}, {"area": "Filler words"}]
    queries = search.queries_for(areas, "Registered Nurse at St Mary's, ask for Jane Doe")
    assert queries == ["nurse interview STAR method answers tips", "nurse interview speaking clearly and concisely tips"]
    joined = " ".join(queries).lower()
    for private in ("john", "henderson", "mary", "jane"):
        assert private not in joined
    # A role the bank does not know is only "job".
    assert search.queries_for(AREAS[:1], "Chief Vibes Officer at Foo Ltd") == ["job interview STAR method answers tips"]


def test_it_asks_serper_with_its_key_and_keeps_only_https_results(fake_serper):
    fake_serper.results("nurse interview star", [
        {"title": "STAR answers for nurses", "link": "https://nursing.example/star", "snippet": "Use  real\nshifts."},
        {"title": "Old page", "link": "http://insecure.example/page", "snippet": "x"},
        {"title": "Script", "link": "javascript:alert(1)", "snippet": "x"},
        {"title": 7, "link": "https://bad-title.example/"},
    ])
    found = search.search_resources(AREAS[:1], "Nurse")
    assert found == [{"title": "STAR answers for nurses", "url": "https://nursing.example/star", "why": "Use real shifts.", "source": "search"}]
    (request,), (headers,) = fake_serper.requests, fake_serper.headers
    assert request["q"] == "nurse interview STAR method answers tips"
    assert headers["X-API-KEY"] == fake_serper.api_key


def test_it_caches_results_by_the_normalised_query_for_everyone(fake_serper, settings):
    first = search.search_resources(AREAS, "Nurse")
    again = search.search_resources(AREAS, "  NURSE ")
    assert first == again and len(first) == 4
    assert len(fake_serper.requests) == 2  # one per skill, then all from the cache
    key = search.cache_key("Nurse Interview STAR method answers tips")
    assert key == search.cache_key("nurse interview  star method answers tips") and "nurse" not in key
    assert cache.get(key)[0]["url"].startswith("https://example.org/")


@pytest.mark.parametrize("failure", [429, 500, 503, "timeout", "drop"])
def test_it_retries_transient_failures_and_then_succeeds(fake_serper, failure):
    fake_serper.fail(failure, times=2)
    found = search.search_resources(AREAS[:1], "Teacher")
    assert [r["source"] for r in found] == ["search", "search"]
    assert len(fake_serper.requests) == 3


@pytest.mark.parametrize("failure", [400, 403, "malformed"])
def test_it_gives_up_at_once_on_what_retrying_cannot_fix(fake_serper, failure):
    fake_serper.fail(failure, times=5)
    assert search.search_resources(AREAS[:1], "Teacher") == []
    assert len(fake_serper.requests) == 1
    assert cache.get(search.cache_key("teacher interview STAR method answers tips")) is None  # not cached


def test_a_wrong_key_is_refused_once_and_not_retried(fake_serper, settings):
    settings.SERPER_API_KEY = "wrong"
    assert search.search_resources(AREAS[:1], "Teacher") == []
    assert len(fake_serper.requests) == 1


def test_its_breaker_stops_calling_a_failing_serper(fake_serper, settings):
    settings.SPEECH_RETRIES = 0
    fake_serper.fail(500, times=100)
    for n in range(resilience.FAILURE_THRESHOLD + 3):
        cache.clear()
        assert search.search_resources(AREAS[:1], f"Teacher {n}") == []
    assert len(fake_serper.requests) == resilience.FAILURE_THRESHOLD


def test_its_calls_stay_under_the_cross_process_cap(fake_serper, settings):
    settings.CAP_SERPER = 1
    fake_serper.slow_seconds = 0.2
    settings.SERPER_TIMEOUT_SECONDS = 5
    fake_serper.fail("timeout", times=4)  # each of the four answers slowly
    threads = [threading.Thread(target=search.search, args=(f"query {n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake_serper.requests) == 4 and fake_serper.max_concurrent == 1


def test_without_a_key_it_searches_nothing(fake_serper, settings):
    settings.SERPER_API_KEY = ""
    assert search.search_resources(AREAS, "Nurse") == []
    assert fake_serper.requests == []


@pytest.fixture
def finished(owner, monkeypatch):
    engine = ScriptedEngine()
    monkeypatch.setattr(turns, "get_engine", lambda: engine)
    monkeypatch.setattr(report, "get_engine", lambda: engine)
    interview = answered(owner, answers=["I cut waiting times by 40%."], job_role="Nurse")
    interview.add_interviewer_turn(Turn.Kind.CLOSING, "Thank you, that's all.")
    return interview


def test_the_report_lists_searched_resources_and_links_them_in_the_markdown(finished, fake_serper):
    assert report.build(finished.id)
    finished.refresh_from_db()
    resources = finished.summary["resources"]
    assert resources and all(r["source"] == "search" for r in resources)
    markdown = report.as_markdown(finished)
    assert f"]({resources[0]['url']})" in markdown


def test_the_report_falls_back_to_the_curated_list_when_search_fails(finished, fake_serper, settings):
    settings.SPEECH_RETRIES = 0
    fake_serper.fail(500, times=10)
    assert report.build(finished.id)
    finished.refresh_from_db()
    resources = Interview.objects.get(pk=finished.pk).summary["resources"]
    assert resources and not any(r.get("source") == "search" for r in resources)


def test_the_markdown_never_links_a_crafted_search_url(finished):
    line = report._resource_line({"title": "x", "url": "https://a.example/) [evil](https://evil", "why": "", "source": "search"}, set())
    assert "](" not in line
