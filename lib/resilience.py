"""Retries with backoff, and a circuit breaker per provider.

    result = call_with_retries(lambda: client.synthesize(...), provider="polly")
    result = await acall_with_retries(lambda: client.transcribe(...), provider="assemblyai")

A call is retried when it fails with a retryable error (by default a
SpeechError with .retryable: 429, 5xx, timeouts, dropped connections), after a
pause of random.uniform(0, min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**n))
("full jitter", so callers that failed together don't retry together).

Every attempt goes through the provider's breaker. Only retryable failures
count toward opening it: they say the provider is struggling. A non-retryable
SpeechError (bad audio, text too long, a refused key) is the provider
answering, so it counts as the provider being up; other exceptions (our own
bugs), a full cap and cancellation count for nothing. After FAILURE_THRESHOLD
failures in a row the breaker opens and calls fail at once with CircuitOpen
for COOL_DOWN_SECONDS; then one trial call goes through, and its success
closes the breaker (a failure opens it again).

The breakers live in each process. They spare this process's callers from
waiting through retries against a provider that is down, which is a local
decision; the vendor's global concurrency limits are the caps' job
(lib.caps), which are shared by every process.

Take a cap slot outside the retried call, so retries reuse the slot.
"""

import asyncio
import logging
import random
import threading
import time

from django.conf import settings

from lib.caps import CapFull, provider_label
from speech.providers.base import SpeechError

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
FAILURE_THRESHOLD = 5
COOL_DOWN_SECONDS = 30.0

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitOpen(SpeechError):
    def __init__(self, provider):
        super().__init__(f"{provider_label(provider)} is unavailable right now; try again in a minute.", retryable=False)
        self.provider = provider


def default_is_retryable(exc):
    return isinstance(exc, SpeechError) and exc.retryable


class CircuitBreaker:
    def __init__(self, provider, *, threshold=None, cool_down=None, clock=time.monotonic):
        self.provider = provider
        self.threshold = threshold if threshold is not None else FAILURE_THRESHOLD
        self.cool_down = cool_down if cool_down is not None else COOL_DOWN_SECONDS
        self.clock = clock
        self.failures = 0  # retryable failures in a row
        self.opened_at = None
        self.trial_started_at = None
        self.lock = threading.Lock()

    def __repr__(self):
        return f"<CircuitBreaker {self.provider} {self.state} failures={self.failures}>"

    @property
    def state(self):
        if self.opened_at is None:
            return CLOSED
        if self.trial_started_at is not None or self.clock() - self.opened_at >= self.cool_down:
            return HALF_OPEN
        return OPEN

    def before_call(self):
        """Let a call through, or raise CircuitOpen."""
        with self.lock:
            if self.opened_at is None:
                return
            now = self.clock()
            if now - self.opened_at < self.cool_down:
                raise CircuitOpen(self.provider)
            # Half-open: one trial at a time. A trial whose caller vanished
            # without reporting is given up after a cool-down.
            if self.trial_started_at is not None and now - self.trial_started_at < self.cool_down:
                raise CircuitOpen(self.provider)
            self.trial_started_at = now

    def record_success(self):
        with self.lock:
            if self.opened_at is not None:
                log.info("%s answered again; closing its circuit", self.provider)
            self.failures = 0
            self.opened_at = None
            self.trial_started_at = None

    def record_failure(self):
        with self.lock:
            self.failures += 1
            if self.trial_started_at is not None or (self.opened_at is None and self.failures >= self.threshold):
                if self.opened_at is None:
                    log.warning("%s failed %d times in a row; opening its circuit", self.provider, self.failures)
                self.opened_at = self.clock()
                self.trial_started_at = None

    def record_neutral(self):
        """The call said nothing about the provider (cancelled, or no slot free)."""
        with self.lock:
            self.trial_started_at = None


_breakers = {}
_breakers_lock = threading.Lock()


def breaker(provider):
    """This process's breaker for a provider."""
    with _breakers_lock:
        found = _breakers.get(provider)
        if found is None:
            found = _breakers[provider] = CircuitBreaker(provider)
        return found


def reset_breakers():
    """Forget every breaker (for tests)."""
    with _breakers_lock:
        _breakers.clear()


def backoff_seconds(attempt, exc=None):
    """The pause before retry number `attempt` (0-based); honours a provider's
    `retry_after` (seconds) on the error, within BACKOFF_MAX_SECONDS."""
    pause = random.uniform(0, min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, (int, float)) and retry_after > 0:
        pause = max(pause, min(float(retry_after), BACKOFF_MAX_SECONDS))
    return pause


def _settle(cb, exc, is_retryable):
    """Tell the breaker how the call went; True if it is worth retrying."""
    if isinstance(exc, (CircuitOpen, CapFull)) or not isinstance(exc, Exception):
        cb.record_neutral()  # cancelled, or never reached the provider
        return False
    if is_retryable(exc):
        cb.record_failure()
        return True
    if isinstance(exc, SpeechError):
        cb.record_success()  # the provider answered, with a refusal
    else:
        cb.record_neutral()  # our own bug: says nothing about the provider
    return False


def call_with_retries(fn, *, provider, retries=None, is_retryable=None):
    retries = settings.SPEECH_RETRIES if retries is None else retries
    is_retryable = is_retryable or default_is_retryable
    cb = breaker(provider)
    attempt = 0
    last = None
    while True:
        try:
            cb.before_call()
        except CircuitOpen as exc:
            raise exc from last
        try:
            result = fn()
        except BaseException as exc:
            if not _settle(cb, exc, is_retryable) or attempt >= retries:
                raise
            last = exc
        else:
            cb.record_success()
            return result
        pause = backoff_seconds(attempt, last)
        log.warning("%s call failed (%s); retry %d of %d in %.2f s", provider, last, attempt + 1, retries, pause)
        _sleep(pause)
        attempt += 1


async def acall_with_retries(coro_fn, *, provider, retries=None, is_retryable=None):
    retries = settings.SPEECH_RETRIES if retries is None else retries
    is_retryable = is_retryable or default_is_retryable
    cb = breaker(provider)
    attempt = 0
    last = None
    while True:
        try:
            cb.before_call()
        except CircuitOpen as exc:
            raise exc from last
        try:
            result = await coro_fn()
        except BaseException as exc:
            if not _settle(cb, exc, is_retryable) or attempt >= retries:
                raise
            last = exc
        else:
            cb.record_success()
            return result
        pause = backoff_seconds(attempt, last)
        log.warning("%s call failed (%s); retry %d of %d in %.2f s", provider, last, attempt + 1, retries, pause)
        await _asleep(pause)
        attempt += 1


# Indirections, so tests can record the pauses instead of waiting.
def _sleep(seconds):
    time.sleep(seconds)


async def _asleep(seconds):
    await asyncio.sleep(seconds)
