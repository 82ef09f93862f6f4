"""Application metrics for Prometheus, served at /metrics with django-prometheus's.

Objects are created once per process on import. Only the web process's values
are exported: turns, the coach, live streams and rate limits run there. Counts
made in django-q2 workers (reports, batch speech) stay in those processes;
what they change in the database shows up through collectors read at scrape
time: the caps' (slots in use, below) and the apps' own (active interviews,
interviews/metrics.py).

Other modules call the small helpers (metrics.provider_call("deepgram", "ok"),
metrics.rate_limited("answer")...) rather than the objects, so names and
labels stay in one place.
"""

import asyncio
import logging

from django.conf import settings
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from lib.caps import CAP_SETTINGS, get_cap

log = logging.getLogger(__name__)

# Seconds; the design targets are 50 ms server overhead and 20 ms to first token.
FAST_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
SLOW_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)

interviews_started = Counter("interviewer_interviews_started_total", "Interviews whose first turn was written.")
interviews_completed = Counter("interviewer_interviews_completed_total", "Interviews completed (closed by the interviewer or ended early).")
turn_total_seconds = Histogram(
    "interviewer_turn_total_seconds", "Interviewer turn: wall time from claiming the turn to saving it.", buckets=SLOW_BUCKETS
)
turn_model_seconds = Histogram("interviewer_turn_model_seconds", "Interviewer turn: time spent inside the model.", buckets=SLOW_BUCKETS)
turn_overhead_seconds = Histogram(
    "interviewer_turn_overhead_seconds", "Interviewer turn: wall time minus model time (server overhead).", buckets=FAST_BUCKETS
)
turn_first_token_seconds = Histogram(
    "interviewer_turn_first_token_seconds", "Interviewer turn: from claiming the turn to publishing its first words.", buckets=SLOW_BUCKETS
)
live_streams_open = Gauge("interviewer_live_streams_open", "Live transcription sockets open on this process.")
provider_calls = Counter("interviewer_provider_calls_total", "Calls to external providers by outcome (ok or an error kind).", ["provider", "outcome"])
provider_errors = Counter("interviewer_provider_errors_total", "Failed calls to external providers.", ["provider"])
provider_retries = Counter("interviewer_provider_retries_total", "Calls to external providers retried after a failure.", ["provider"])
cap_wait_seconds = Histogram("interviewer_cap_wait_seconds", "Time spent waiting for a capped provider slot.", ["cap"], buckets=FAST_BUCKETS + (30, 60, 300))
rate_limited_total = Counter("interviewer_rate_limited_total", "Requests refused by a rate limit.", ["scope"])


def interview_started():
    interviews_started.inc()


def interview_completed():
    interviews_completed.inc()


def observe_turn(total_seconds, model_seconds, first_token_seconds=None):
    model_seconds = max(0.0, min(model_seconds, total_seconds))
    turn_total_seconds.observe(total_seconds)
    turn_model_seconds.observe(model_seconds)
    turn_overhead_seconds.observe(total_seconds - model_seconds)
    if first_token_seconds is not None:
        turn_first_token_seconds.observe(first_token_seconds)


def stream_opened():
    live_streams_open.inc()


def stream_closed():
    live_streams_open.dec()


def provider_call(provider, outcome="ok"):
    """One call (attempt) to `provider`: outcome "ok", or the kind of failure."""
    provider_calls.labels(provider, outcome).inc()
    if outcome != "ok":
        provider_errors.labels(provider).inc()


def provider_retry(provider):
    provider_retries.labels(provider).inc()


def cap_wait(cap, seconds):
    cap_wait_seconds.labels(cap).observe(seconds)


def rate_limited(scope):
    rate_limited_total.labels(scope).inc()


def on_event_loop():
    """True inside a coroutine: a collector's query there would block every
    connection on the loop (the /metrics view runs in a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class CapsCollector:
    """Cap slots in use and allowed, read at scrape time from the shared
    caps store, so every process reports the same truth. (The apps register
    their own collectors: interviews/metrics.py.)"""

    def describe(self):
        # Registering must not touch the database: describe the families empty.
        return [
            GaugeMetricFamily("interviewer_cap_slots_in_use", "Provider slots in use, across every process.", labels=["cap"]),
            GaugeMetricFamily("interviewer_cap_slots_limit", "Provider slots allowed.", labels=["cap"]),
        ]

    def collect(self):
        if on_event_loop():
            return
        in_use = GaugeMetricFamily("interviewer_cap_slots_in_use", "Provider slots in use, across every process.", labels=["cap"])
        limit = GaugeMetricFamily("interviewer_cap_slots_limit", "Provider slots allowed.", labels=["cap"])
        for name, setting in CAP_SETTINGS.items():
            if getattr(settings, setting) < 1:
                continue  # a cap that is switched off (CAP_LLM=0)
            try:
                cap = get_cap(name)
                in_use.add_metric([name], cap.in_use())
            except Exception as exc:
                log.warning("metrics: cannot read cap %s: %s", name, type(exc).__name__)
                continue
            limit.add_metric([name], cap.limit)
        yield in_use
        yield limit


REGISTRY.register(CapsCollector())
