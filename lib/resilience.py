"""Retries for every call that leaves the process, and a circuit breaker per
speech provider.

    result = call_with_retries(lambda: client.synthesize(...), provider="polly")
    result = await acall_with_retries(lambda: client.transcribe(...), provider="assemblyai")
    result = await aretry(once, retries=settings.INTERVIEW_LLM_RETRIES, retry_if=retryable)

One policy, built on tenacity (LangChain already depends on it), serves the
model calls (interviews.engine.llm), the speech providers (speech.providers)
and the channel-layer publishes (interviews.turns): each caller gives only its
number of retries and a predicate saying which errors are worth retrying. The
pause before retry n (0-based) is

    random.uniform(0, min(BACKOFF_MAX_SECONDS, base * 2**n))

("full jitter", so callers that failed together don't retry together), where
base is BACKOFF_BASE_SECONDS, or PUBLISH_BACKOFF_BASE_SECONDS for publishes: a
Redis that restarted answers again on a fresh connection at once, and a
candidate is watching the tokens. A `retry_after` (seconds) on the error is
honoured, within BACKOFF_MAX_SECONDS. The retries themselves are settings:
INTERVIEW_LLM_RETRIES for the model, SPEECH_RETRIES for the providers,
PUBLISH_RETRIES here for publishes. The pauses go through `_sleep` / `_asleep`,
so tests can record them instead of waiting.

Every attempt at a speech provider goes through the provider's breaker. Only
retryable failures count toward opening it: they say the provider is
struggling. A non-retryable error that carries `.retryable` (speech's
SpeechError: bad audio, text too long, a refused key) is the provider
answering, so it counts as the provider being up; other exceptions (our own
bugs), a full cap and cancellation count for nothing. After FAILURE_THRESHOLD
failures in a row the breaker opens and calls fail at once with CircuitOpen
for COOL_DOWN_SECONDS; then one trial call goes through, and its success
closes the breaker (a failure opens it again).

The breaker is ours, not pybreaker's or purgatory's (neither is installed):
they know two outcomes, a failure or a success, and we need a third, "says
nothing about the provider", so that our own bugs and a full cap neither open
nor close it; ours also gives up a half-open trial whose caller vanished. The
breakers live in each process, on purpose: they spare this process's callers
from waiting through retries against a provider that is down, which is a
local decision and needs no shared state; the vendor's global concurrency
limits are the caps' job (lib.caps), which are shared by every process.

Take a cap slot outside the retried call, so retries reuse the slot.
"""

import asyncio
import logging
import random
import threading
import time

import tenacity
from django.conf import settings

from lib.caps import CapFull, provider_label

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
PUBLISH_BACKOFF_BASE_SECONDS = 0.1
PUBLISH_RETRIES = 2
FAILURE_THRESHOLD = 5
COOL_DOWN_SECONDS = 30.0

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The provider's breaker is open. The message is safe to show the
    candidate; speech raises it on as a SpeechError."""

    retryable = False

    def __init__(self, provider):
        super().__init__(f"{provider_label(provider)} is unavailable right now; try again in a minute.")
        self.provider = provider


def default_is_retryable(exc):
    """The provider said so: speech's SpeechError(retryable=True)."""
    return getattr(exc, "retryable", False) is True


# ----- the backoff -----


def backoff_seconds(attempt, exc=None, base=None):
    """The pause before retry number `attempt` (0-based); honours a provider's
    `retry_after` (seconds) on the error, within BACKOFF_MAX_SECONDS."""
    base = BACKOFF_BASE_SECONDS if base is None else base
    pause = random.uniform(0, min(BACKOFF_MAX_SECONDS, base * 2**attempt))
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, (int, float)) and retry_after > 0:
        pause = max(pause, min(float(retry_after), BACKOFF_MAX_SECONDS))
    return pause


async def pause_before_retry(attempt, exc=None):
    """Wait as the policy would, for a loop tenacity cannot drive (a stream that
    may only be retried while nothing of it was passed on)."""
    await _asleep(backoff_seconds(attempt, exc))


def _policy(retrying, *, retries, retry_if, what, base=None, on_retry=None, sleep):
    """The one retry policy, for tenacity.Retrying or tenacity.AsyncRetrying.

    retry_if(exc) is asked once per failed attempt; the last error is raised
    as it is when it is not worth retrying or the retries are spent.
    on_retry(exc), if given, is told of each retry before its pause.
    """

    def wait(state):
        return backoff_seconds(state.attempt_number - 1, state.outcome.exception(), base)

    def log_retry(state):
        log.warning(
            "%s failed (%s); retry %d of %d in %.2f s",
            what,
            state.outcome.exception(),
            state.attempt_number,
            retries,
            state.upcoming_sleep,
        )
        if on_retry is not None:
            on_retry(state.outcome.exception())

    return retrying(
        stop=tenacity.stop_after_attempt(max(0, retries) + 1),
        wait=wait,
        retry=tenacity.retry_if_exception(retry_if),
        before_sleep=log_retry,
        sleep=sleep,
        reraise=True,
    )


def retry(fn, *, retries, retry_if, what, base=None, on_retry=None):
    """fn() under the policy, pausing with time.sleep."""
    policy = _policy(
        tenacity.Retrying, retries=retries, retry_if=retry_if, what=what, base=base, on_retry=on_retry, sleep=lambda s: _sleep(s)
    )
    return policy(fn)


async def aretry(coro_fn, *, retries, retry_if, what, base=None, on_retry=None):
    """await coro_fn() under the policy, pausing with asyncio.sleep."""
    policy = _policy(
        tenacity.AsyncRetrying, retries=retries, retry_if=retry_if, what=what, base=base, on_retry=on_retry, sleep=lambda s: _asleep(s)
    )

    async def attempt():
        # tenacity awaits only `async def` functions, not a lambda returning a coroutine.
        return await coro_fn()

    return await policy(attempt)


# Indirections, so tests can record the pauses instead of waiting.
def _sleep(seconds):
    time.sleep(seconds)


async def _asleep(seconds):
    await asyncio.sleep(seconds)


# ----- channel-layer publishes -----


def is_channel_layer_transient(exc):
    """A pooled connection that died (Redis restarted): a fresh one will do."""
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # the in-memory layer only
        return isinstance(exc, OSError)
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, OSError))



# ----- speech providers, behind a breaker -----


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



def _settle(cb, exc, is_retryable):
    """Tell the breaker how the call went; True if it is worth retrying."""
    if isinstance(exc, (CircuitOpen, CapFull)) or not isinstance(exc, Exception):
        cb.record_neutral()  # cancelled, or never reached the provider
        return False
    if is_retryable(exc):
        cb.record_failure()
        return True
    if hasattr(exc, "retryable"):
        cb.record_success()  # the provider answered, with a refusal
    else:
        cb.record_neutral()  # our own bug: says nothing about the provider
    return False


class _ProviderCall:
    """The attempts of one call through a provider's breaker."""

    def __init__(self, provider, is_retryable):
        self.cb = breaker(provider)
        self.is_retryable = is_retryable
        self.last = None  # the last failure, the cause of a CircuitOpen
        self.worth_retrying = False

    def enter(self):
        self.worth_retrying = False  # a CircuitOpen from here is final
        try:
            self.cb.before_call()
        except CircuitOpen as exc:
            raise exc from self.last

    def failed(self, exc):
        self.last = exc
        self.worth_retrying = _settle(self.cb, exc, self.is_retryable)

    def retry_if(self, exc):
        return self.worth_retrying


def call_with_retries(fn, *, provider, retries=None, is_retryable=None):
    call = _ProviderCall(provider, is_retryable or default_is_retryable)

    def attempt():
        call.enter()
        try:
            result = fn()
        except BaseException as exc:
            call.failed(exc)
            raise
        call.cb.record_success()
        return result

    retries = settings.SPEECH_RETRIES if retries is None else retries
    return retry(attempt, retries=retries, retry_if=call.retry_if, what=f"{provider} call")


async def acall_with_retries(coro_fn, *, provider, retries=None, is_retryable=None):
    call = _ProviderCall(provider, is_retryable or default_is_retryable)

    async def attempt():
        call.enter()
        try:
            result = await coro_fn()
        except BaseException as exc:
            call.failed(exc)
            raise
        call.cb.record_success()
        return result

    retries = settings.SPEECH_RETRIES if retries is None else retries
    return await aretry(attempt, retries=retries, retry_if=call.retry_if, what=f"{provider} call")
