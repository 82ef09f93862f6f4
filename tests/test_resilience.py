"""lib.resilience: retries with backoff, and the per-provider circuit breaker."""

import pytest

from lib import resilience
from lib.caps import CapFull
from speech.providers.base import SpeechError
from lib.resilience import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitOpen,
    acall_with_retries,
    breaker,
    call_with_retries,
)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(autouse=True)
def fresh_breakers(monkeypatch):
    """Fresh breakers, and pauses recorded instead of slept."""
    resilience.reset_breakers()
    pauses = []
    monkeypatch.setattr(resilience, "_sleep", pauses.append)

    async def record(seconds):
        pauses.append(seconds)

    monkeypatch.setattr(resilience, "_asleep", record)
    yield pauses
    resilience.reset_breakers()


class Flaky:
    """Fails with the given errors in turn, then returns "ok"."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"

    async def async_call(self):
        return self()


def busy():
    return SpeechError("The provider is busy.", retryable=True)


def test_it_retries_with_growing_jittered_backoff_then_succeeds(fresh_breakers):
    call = Flaky(busy(), busy(), busy())
    assert call_with_retries(call, provider="polly", retries=3) == "ok"
    assert call.calls == 4
    pauses = fresh_breakers
    assert len(pauses) == 3
    for attempt, pause in enumerate(pauses):
        assert 0 <= pause <= min(resilience.BACKOFF_MAX_SECONDS, resilience.BACKOFF_BASE_SECONDS * 2**attempt)
    assert breaker("polly").state == CLOSED
    assert breaker("polly").failures == 0


def test_it_uses_full_jitter_exponential_backoff(monkeypatch):
    monkeypatch.setattr(resilience, "BACKOFF_BASE_SECONDS", 1.0)
    monkeypatch.setattr(resilience.random, "uniform", lambda lo, hi: (lo, hi))
    assert [resilience.backoff_seconds(n) for n in range(5)] == [(0, 1.0), (0, 2.0), (0, 4.0), (0, 8.0), (0, 8.0)]


def test_it_jitters_and_caps_the_backoff():
    pauses = [resilience.backoff_seconds(10) for _ in range(200)]
    assert max(pauses) <= resilience.BACKOFF_MAX_SECONDS
    assert len({round(p, 6) for p in pauses}) > 100  # not one fixed delay


def test_it_waits_at_least_a_providers_retry_after():
    error = busy()
    error.retry_after = 3
    assert resilience.backoff_seconds(0, error) >= 3


def test_it_gives_up_after_the_retries_with_the_last_error(settings):
    settings.SPEECH_RETRIES = 2
    errors = [busy(), busy(), SpeechError("Still busy.", retryable=True)]
    call = Flaky(*errors, busy())
    with pytest.raises(SpeechError, match="Still busy."):
        call_with_retries(call, provider="polly")
    assert call.calls == 3


def test_it_fails_at_once_on_a_non_retryable_error(fresh_breakers):
    call = Flaky(SpeechError("That audio could not be read."), busy())
    with pytest.raises(SpeechError, match="could not be read"):
        call_with_retries(call, provider="assemblyai", retries=5)
    assert call.calls == 1
    assert fresh_breakers == []
    assert breaker("assemblyai").failures == 0


def test_it_lets_the_caller_choose_what_is_retryable():
    call = Flaky(TimeoutError(), TimeoutError())
    assert call_with_retries(call, provider="deepgram", retries=2, is_retryable=lambda e: isinstance(e, TimeoutError)) == "ok"
    assert call.calls == 3
    with pytest.raises(TimeoutError):
        call_with_retries(Flaky(TimeoutError()), provider="deepgram", retries=2)


def test_it_opens_the_breaker_after_consecutive_failures_and_rejects_fast():
    cb = breaker("assemblyai")
    cb.clock = Clock()
    for _ in range(resilience.FAILURE_THRESHOLD - 1):
        with pytest.raises(SpeechError):
            call_with_retries(Flaky(busy()), provider="assemblyai", retries=0)
    assert cb.state == CLOSED
    with pytest.raises(SpeechError):
        call_with_retries(Flaky(busy()), provider="assemblyai", retries=0)
    assert cb.state == OPEN

    never = Flaky()
    with pytest.raises(CircuitOpen) as rejected:
        call_with_retries(never, provider="assemblyai")
    assert never.calls == 0
    assert str(rejected.value) == "Transcription (AssemblyAI) is unavailable right now; try again in a minute."
    assert rejected.value.retryable is False


def test_it_stops_retrying_when_the_breaker_opens_mid_call(fresh_breakers):
    call = Flaky(*[busy() for _ in range(10)])
    with pytest.raises(CircuitOpen) as rejected:
        call_with_retries(call, provider="polly", retries=10)
    assert call.calls == resilience.FAILURE_THRESHOLD
    assert isinstance(rejected.value.__cause__, SpeechError)


def test_it_does_not_count_refusals_toward_opening_the_breaker():
    for _ in range(resilience.FAILURE_THRESHOLD * 2):
        with pytest.raises(SpeechError):
            call_with_retries(Flaky(SpeechError("Text too long.")), provider="polly", retries=0)
    assert breaker("polly").state == CLOSED


def test_it_counts_only_consecutive_failures():
    for _ in range(3):
        for _ in range(resilience.FAILURE_THRESHOLD - 1):
            with pytest.raises(SpeechError):
                call_with_retries(Flaky(busy()), provider="polly", retries=0)
        assert call_with_retries(Flaky(), provider="polly") == "ok"
    assert breaker("polly").state == CLOSED


def test_it_half_opens_after_the_cool_down_and_closes_on_success():
    cb = breaker("deepgram")
    clock = cb.clock = Clock()
    with pytest.raises(CircuitOpen):
        call_with_retries(Flaky(*[busy() for _ in range(10)]), provider="deepgram", retries=10)
    assert cb.state == OPEN
    clock.now += resilience.COOL_DOWN_SECONDS - 1
    with pytest.raises(CircuitOpen):
        call_with_retries(Flaky(), provider="deepgram")
    clock.now += 1
    assert cb.state == HALF_OPEN

    # One trial at a time: while it runs, others are still turned away.
    def trial():
        with pytest.raises(CircuitOpen):
            call_with_retries(Flaky(), provider="deepgram")
        return "ok"

    assert call_with_retries(trial, provider="deepgram") == "ok"
    assert cb.state == CLOSED
    assert call_with_retries(Flaky(), provider="deepgram") == "ok"


def test_it_reopens_when_the_trial_call_fails():
    cb = breaker("deepgram")
    clock = cb.clock = Clock()
    cb.opened_at = clock.now
    clock.now += resilience.COOL_DOWN_SECONDS
    call = Flaky(busy(), busy())
    with pytest.raises(CircuitOpen) as rejected:
        call_with_retries(call, provider="deepgram", retries=3)
    assert call.calls == 1
    assert "busy" in str(rejected.value.__cause__)
    assert cb.state == OPEN
    clock.now += resilience.COOL_DOWN_SECONDS
    assert call_with_retries(Flaky(), provider="deepgram") == "ok"
    assert cb.state == CLOSED


def test_it_does_not_let_a_full_cap_trip_the_breaker():
    for _ in range(resilience.FAILURE_THRESHOLD + 1):
        with pytest.raises(CapFull):
            call_with_retries(Flaky(CapFull("busy")), provider="polly")
    assert breaker("polly").state == CLOSED


async def test_it_retries_async_calls_with_asyncio_sleep(fresh_breakers):
    call = Flaky(busy(), busy())
    assert await acall_with_retries(call.async_call, provider="polly", retries=3) == "ok"
    assert call.calls == 3
    assert len(fresh_breakers) == 2


async def test_it_gives_up_on_async_calls_and_opens_the_breaker():
    with pytest.raises(SpeechError, match="busy"):
        await acall_with_retries(Flaky(busy(), busy()).async_call, provider="assemblyai", retries=1)
    with pytest.raises(SpeechError, match="read"):
        await acall_with_retries(Flaky(SpeechError("Could not read.")).async_call, provider="assemblyai", retries=3)
    with pytest.raises(CircuitOpen):
        await acall_with_retries(Flaky(*[busy() for _ in range(10)]).async_call, provider="assemblyai", retries=10)
    never = Flaky()
    with pytest.raises(CircuitOpen):
        await acall_with_retries(never.async_call, provider="assemblyai")
    assert never.calls == 0


async def test_it_really_sleeps_between_async_retries(monkeypatch):
    monkeypatch.undo()  # the real asyncio.sleep
    monkeypatch.setattr(resilience, "BACKOFF_BASE_SECONDS", 0.01)
    call = Flaky(busy())
    assert await acall_with_retries(call.async_call, provider="local_tts", retries=1) == "ok"


def test_it_does_not_let_our_own_bugs_trip_or_close_the_breaker():
    cb = breaker("polly")
    for _ in range(resilience.FAILURE_THRESHOLD - 1):
        with pytest.raises(SpeechError):
            call_with_retries(Flaky(busy()), provider="polly", retries=0)
    with pytest.raises(KeyError):
        call_with_retries(Flaky(KeyError("text")), provider="polly")
    assert cb.failures == resilience.FAILURE_THRESHOLD - 1  # neither reset nor counted
    with pytest.raises(SpeechError):
        call_with_retries(Flaky(busy()), provider="polly", retries=0)
    assert cb.state == OPEN


async def test_it_retries_a_lambda_returning_a_coroutine_with_its_own_predicate(fresh_breakers):
    call = Flaky(ConnectionResetError(), ConnectionResetError())
    retried = []
    result = await resilience.aretry(
        lambda: call.async_call(),
        retries=resilience.PUBLISH_RETRIES,
        retry_if=resilience.is_channel_layer_transient,
        what="publish",
        base=resilience.PUBLISH_BACKOFF_BASE_SECONDS,
        on_retry=retried.append,
    )
    assert result == "ok" and call.calls == 3 and len(retried) == 2
    assert all(0 <= pause <= resilience.PUBLISH_BACKOFF_BASE_SECONDS * 2**n for n, pause in enumerate(fresh_breakers))


async def test_it_gives_up_with_the_last_error_or_at_once_on_a_permanent_one(fresh_breakers):
    transient = resilience.is_channel_layer_transient
    with pytest.raises(ConnectionResetError):
        flaky = Flaky(OSError(), OSError(), ConnectionResetError())
        await resilience.aretry(flaky.async_call, retries=2, retry_if=transient, what="publish")
    with pytest.raises(ValueError):
        await resilience.aretry(Flaky(ValueError()).async_call, retries=2, retry_if=transient, what="publish")
    assert len(fresh_breakers) == 2
