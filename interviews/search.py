"""Learning resources from web search (Serper), for the report.

One query per focus area, made from the role's name in the question bank and
a fixed phrase for the skill, never from anything the candidate wrote: the
queries, and so the shared cache's keys and values, hold no user data, and one
candidate's search can never show up in another's report. Results are cached
by the normalised query for SERPER_CACHE_SECONDS.

Calls go through the same machinery as the speech providers: a cross-process
cap (CAP_SERPER), retries with backoff on 429/5xx/network errors and a
circuit breaker (lib.resilience). Any failure, or no key, gives no results,
and the report falls back to the curated list (interviews/engine/resources.py).

Runs in the report worker (sync, never on an event loop).
"""

import hashlib
import logging
import re
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.cache import cache

from interviews.engine.questions import ROLES, match_role
from lib import resilience
from lib.caps import CapFull, get_cap

log = logging.getLogger(__name__)

PROVIDER = "serper"
RESULTS_PER_QUERY = 2
MAX_TITLE = 120
MAX_WHY = 240

# A focus area (an engine's free text) is mapped to one of these by keyword;
# the query uses the phrase, never the area's own words.
SKILLS = (
    (("relevance", "question asked", "on topic"), "answering the question asked"),
    (("structure", "star", "story", "stories"), "STAR method answers"),
    (("specific", "result", "outcome", "number", "measurable", "impact"), "quantifying results"),
    (("communication", "filler", "pace", "clarity", "concise", "delivery"), "speaking clearly and concisely"),
    (("role fit", "role_fit", "job description", "requirements", "terms", "fit"), "matching your experience to the job description"),
)


class SearchError(Exception):
    def __init__(self, message, retryable):
        super().__init__(message)
        self.retryable = retryable


def skill_for(area):
    text = str(area or "").lower()[:500]
    for keywords, phrase in SKILLS:
        if any(keyword in text for keyword in keywords):
            return phrase
    return None


def queries_for(focus_areas, job_role):
    """The search queries for a report: one per distinct skill, role-specific
    when the role is one the question bank knows."""
    role_key = match_role(job_role or "")
    role = ROLES[role_key]["label"] if role_key else "job"
    queries = []
    for area in focus_areas or []:
        text = area.get("area", "") if isinstance(area, dict) else area
        skill = skill_for(text)
        query = f"{role} interview {skill} tips" if skill else None
        if query and query not in queries:
            queries.append(query)
    return queries


def normalise(query):
    return " ".join(query.lower().split())


def cache_key(query):
    return "serper:v1:" + hashlib.sha256(normalise(query).encode()).hexdigest()


def search_resources(focus_areas, job_role, limit=6):
    """Up to `limit` resources [{"title", "url", "why", "source": "search"}],
    or [] when search is off or gives nothing (the caller falls back)."""
    if not settings.SERPER_API_KEY:
        return []
    found, seen = [], set()
    for query in queries_for(focus_areas, job_role):
        for item in cached_search(query)[:RESULTS_PER_QUERY]:
            if item["url"] not in seen:
                seen.add(item["url"])
                found.append(item)
    return found[:limit]


def cached_search(query):
    key = cache_key(query)
    hit = cache.get(key)
    if hit is not None:
        return hit
    try:
        results = search(query)
    except (SearchError, resilience.CircuitOpen, CapFull) as exc:
        log.warning("serper: no results for %r: %s", query, exc)
        return []
    cache.set(key, results, settings.SERPER_CACHE_SECONDS)
    return results


def search(query):
    """Serper's organic results for a query, cleaned; raises SearchError."""
    with get_cap(PROVIDER).slot(timeout=settings.SERPER_TIMEOUT_SECONDS):
        return resilience.call_with_retries(lambda: _post(query), provider=PROVIDER)


def _post(query):
    try:
        response = httpx.post(
            settings.SERPER_BASE_URL.rstrip("/") + "/search",
            json={"q": query, "num": 10},
            headers={"X-API-KEY": settings.SERPER_API_KEY},
            timeout=settings.SERPER_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:  # timeouts, refused or dropped connections
        raise SearchError(f"unreachable: {type(exc).__name__}", retryable=True) from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise SearchError(f"HTTP {response.status_code}", retryable=True)
    if response.status_code != 200:
        # 401/403 (bad key), 400 (out of credits, bad request): a configuration
        # problem that retrying cannot fix.
        log.error("serper: HTTP %s, check SERPER_API_KEY and the account: %s", response.status_code, response.text[:200])
        raise SearchError(f"HTTP {response.status_code}", retryable=False)
    try:
        organic = response.json().get("organic") or []
    except (ValueError, AttributeError) as exc:
        raise SearchError("malformed reply", retryable=False) from exc
    return [item for item in map(_clean, organic if isinstance(organic, list) else []) if item]


_SPACE = re.compile(r"\s+")


def _clean(result):
    """A result as a resource, or None: only https links with a title."""
    if not isinstance(result, dict):
        return None
    url, title = result.get("link"), result.get("title")
    if not isinstance(url, str) or not isinstance(title, str) or len(url) > 2000:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        return None
    snippet = result.get("snippet") if isinstance(result.get("snippet"), str) else ""
    return {
        "title": _SPACE.sub(" ", title).strip()[:MAX_TITLE],
        "url": url,
        "why": _SPACE.sub(" ", snippet).strip()[:MAX_WHY],
        "source": "search",
    }
