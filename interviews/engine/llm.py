"""The model-backed engine: any LangChain chat model ("provider:model"), e.g. Gemini.

    engine = LLMEngine("google_genai:gemini-2.5-flash")
    engine = LLMEngine("anything", model=GenericFakeChatModel(...))   # tests

The chat model comes from LangChain's own factory (`init_chat_model`) with the
temperature and timeout from settings, `max_retries=0` (we retry here, with
our own policy and error messages) and `base_url=settings.INTERVIEW_LLM_BASE_URL`
when set (a proxy, or the fake Gemini server in tests). API keys come from the
environment (GOOGLE_API_KEY, OPENAI_API_KEY, ...), never from settings here.

Every call runs on the event loop through the async APIs only, under
`asyncio.timeout(settings.INTERVIEW_LLM_TIMEOUT)`, and is retried up to
settings.INTERVIEW_LLM_RETRIES times with lib.resilience's policy
(exponential backoff with full jitter) on rate limits (429), server errors
(5xx), timeouts, dropped connections and unreadable responses. Client errors (400/401/403/404) fail at once. When we
give up, base.EngineError carries a message safe to show the candidate, plus
`.usage` (calls, errors, time spent) and `.kind` for the caller's records.
"""

import asyncio
import contextlib
import json
import logging
import time

from django.conf import settings
from pydantic import BaseModel

from lib import metrics, resilience
from lib.caps import CapFull, get_cap
from interviews.engine import prompts, replies, rewrite
from interviews.engine.replies import HEADER_MAX_CHARS, BadOutput, CoachOutput, ReportOutput, TurnParser, parse_json_text
from interviews.engine.base import Decision, EngineError, Usage

log = logging.getLogger(__name__)

MESSAGES = {
    "rate_limit": "The interviewer model is busy (rate limited). Please retry in a moment.",
    "server": "The interviewer model is having trouble right now. Please retry in a moment.",
    "timeout": "The interviewer model took too long to answer. Please retry.",
    "connection": "The interviewer model could not be reached. Please retry in a moment.",
    "bad_response": "The interviewer model sent a reply that could not be read. Please retry.",
    "interrupted": "The interviewer's reply was cut off. Please retry.",
    "auth": "The interviewer model is not set up correctly (access denied). Please tell the site administrator.",
    "invalid": "The interviewer model rejected the request. Please retry, or tell the site administrator if it persists.",
    "config": "The interviewer model is not configured correctly. Please tell the site administrator.",
    "other": "The interviewer model failed unexpectedly. Please retry.",
    "busy": "The interviewer model is handling as many interviews as it can right now. Please retry in a moment.",
    "unavailable": "The interviewer model has been failing, so calls to it are paused for a few seconds. Please retry shortly.",
}
RETRYABLE = frozenset({"rate_limit", "server", "timeout", "connection", "bad_response"})


# ----- error classification -----


def _status_of(exc):
    for attr in ("status_code", "code", "http_status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def _kind_of_one(exc):
    """What kind of failure one exception is, or None if it says nothing."""
    if isinstance(exc, EngineError):
        return getattr(exc, "kind", "other")
    if isinstance(exc, CapFull):
        return "busy"
    if isinstance(exc, resilience.CircuitOpen):
        return "unavailable"
    if isinstance(exc, BadOutput):
        return "bad_response"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "timeout"
    names = {cls.__name__ for cls in type(exc).__mro__}
    # langchain_core.exceptions.ModelError family, which integrations map their errors to.
    for name, kind in (
        ("ContextOverflowError", "invalid"),
        ("ModelRateLimitError", "rate_limit"),
        ("ModelTimeoutError", "timeout"),
        ("ModelConnectionError", "connection"),
        ("ModelAPIError", "server"),
        ("ModelAuthenticationError", "auth"),
        ("ModelPermissionDeniedError", "auth"),
        ("ModelInvalidRequestError", "invalid"),
        ("ModelNotFoundError", "invalid"),
    ):
        if name in names:
            return kind
    status = _status_of(exc)
    if status is not None:
        if status == 429:
            return "rate_limit"
        if status in (408, 504):
            return "timeout"
        if status >= 500:
            return "server"
        if status in (401, 403):
            return "auth"
        if status >= 400:
            return "invalid"
    # httpx / httpx2 / openai / anthropic transport failures, by name so no import is needed.
    if names & {"TimeoutException", "ReadTimeout", "ConnectTimeout", "APITimeoutError"}:
        return "timeout"
    if names & {"RemoteProtocolError", "ReadError", "WriteError"}:
        return "interrupted"
    if names & {"TransportError", "ConnectError", "NetworkError", "ProtocolError", "APIConnectionError"}:
        return "connection"
    if isinstance(exc, ConnectionError):
        return "connection"
    if isinstance(exc, json.JSONDecodeError) or "UnknownApiResponseError" in names:
        return "bad_response"
    return None


def classify(exc):
    """(kind, retryable) for an exception raised by a model call; follows __cause__ chains."""
    seen = set()
    cur = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        kind = _kind_of_one(cur)
        if kind is not None:
            # A connection dropped mid-response is retryable like any connection error;
            # stream_turn refuses to retry once text has reached the candidate.
            return kind, kind in RETRYABLE or kind == "interrupted"
        cur = cur.__cause__ or cur.__context__
    return "other", False


def _engine_error(kind, usage, exc=None):
    err = EngineError(MESSAGES.get(kind, MESSAGES["other"]))
    err.kind = kind
    err.usage = usage
    err.detail = f"{type(exc).__name__}: {exc}"[:500] if exc is not None else ""
    return err


def _add_tokens(usage, message):
    meta = getattr(message, "usage_metadata", None) or {}
    usage.tokens_in += int(meta.get("input_tokens") or 0)
    usage.tokens_out += int(meta.get("output_tokens") or 0)


def _ms(seconds):
    return int(round(seconds * 1000))


class LLMEngine:
    """An engine backed by a LangChain chat model. See the module docstring."""

    def __init__(self, name, model=None):
        self.name = name
        self._model = model
        # The metrics label: "google_genai" for "google_genai:gemini-2.5-flash".
        self.provider = name.split(":", 1)[0] or "llm"
        # with_structured_output rebuilds the schema's JSON schema on every
        # call (several ms of CPU per coach call); build each once.
        self._structured_runnables = {}

    # ----- the chat model -----

    @property
    def model(self):
        if self._model is None:
            self._model = self._build_model()
        return self._model

    def _build_model(self):
        from langchain.chat_models import init_chat_model

        kwargs = {
            "temperature": settings.INTERVIEW_LLM_TEMPERATURE,
            "timeout": settings.INTERVIEW_LLM_TIMEOUT,
            "max_retries": 0,  # retried here, see _retrying
        }
        if settings.INTERVIEW_LLM_BASE_URL:
            # ChatGoogleGenerativeAI, ChatOpenAI and ChatAnthropic all accept `base_url`.
            kwargs["base_url"] = settings.INTERVIEW_LLM_BASE_URL
        return init_chat_model(self.name, **kwargs)

    def _model_or_error(self, usage):
        try:
            return self.model
        except Exception as exc:  # missing API key, unknown provider, package not installed
            log.error("cannot create chat model %r: %s", self.name, exc)
            raise _engine_error("config", usage, exc) from exc

    @property
    def _timeout(self):
        return settings.INTERVIEW_LLM_TIMEOUT

    @property
    def _retries(self):
        return max(0, int(settings.INTERVIEW_LLM_RETRIES))

    @contextlib.asynccontextmanager
    async def _guarded(self):
        """One model call under the provider's breaker and the cross-process
        cap on concurrent calls (CAP_LLM, 0 for none), as the speech providers
        are. A full cap waits LLM_CAP_WAIT_SECONDS, then fails as "busy"; an
        open breaker fails at once as "unavailable"; neither is retried."""
        cb = resilience.breaker(self.provider)
        cb.before_call()
        try:
            if settings.CAP_LLM > 0:
                async with get_cap("llm").aslot(timeout=settings.LLM_CAP_WAIT_SECONDS):
                    yield
            else:
                yield
        except BaseException as exc:
            kind, retryable = classify(exc) if isinstance(exc, Exception) else ("cancelled", False)
            if kind in ("busy", "bad_response", "cancelled") or kind == "other":
                cb.record_neutral()  # never reached the model, or says nothing about its health
            elif retryable:
                cb.record_failure()
            else:
                cb.record_success()  # the model answered, with a refusal
            raise
        cb.record_success()

    # ----- one interviewer turn -----

    async def stream_turn(self, ctx, allowed):
        """Yield a Decision, then the turn's text in chunks, then Usage.

        One streaming model call per turn: the reply is a small header
        (ACTION / TOPICS / WHY, then `---`) followed by the spoken text. The
        header is parsed as it streams, the Decision is yielded as soon as it is
        complete, and text chunks are passed on as they arrive. A separate
        "decide" call before a "speak" call would double the latency to the
        first word; one call gives the lowest latency and a fast first token.

        A disallowed action is coerced with policy.coerce; a missing or garbled
        header means the default allowed action and all output as text.

        The timeout bounds the wait for each streamed chunk (the first one and
        any stall). Failed attempts are retried only while no text has been
        yielded; after the Decision was yielded, a retry is told to keep that
        action so the text matches it.
        """
        allowed = frozenset(allowed)
        usage = Usage()
        started = time.monotonic()
        decision = None
        text_sent = False
        attempt_allowed = allowed
        model = self._model_or_error(usage)
        # A runaway reply is cut here, so it is neither read nor paid for
        # beyond what the turn may keep (INTERVIEW_TURN_MAX_CHARS).
        max_text = settings.INTERVIEW_TURN_MAX_CHARS
        attempt = 0
        while True:
            usage.calls += 1
            parser = TurnParser(attempt_allowed)
            received = text_chars = 0
            messages = prompts.interviewer_messages(ctx, attempt_allowed)
            produced = False  # did this attempt produce any text?
            try:
                async with self._guarded():
                    stream = model.astream(messages).__aiter__()
                    try:
                        while True:
                            t0 = time.monotonic()
                            try:
                                async with asyncio.timeout(self._timeout):
                                    chunk = await stream.__anext__()
                            except StopAsyncIteration:
                                break
                            finally:
                                usage.model_ms += _ms(time.monotonic() - t0)
                            _add_tokens(usage, chunk)
                            piece = replies.message_text(chunk)
                            received += len(piece)
                            for item in parser.feed(piece):
                                if isinstance(item, Decision):
                                    if decision is None:
                                        decision = item
                                        yield decision
                                    continue
                                if usage.first_token_ms is None:
                                    usage.first_token_ms = _ms(time.monotonic() - started)
                                produced = text_sent = True
                                text_chars += len(item)
                                yield item
                            if text_chars >= max_text or received >= max_text + HEADER_MAX_CHARS:
                                log.warning("%s: interviewer turn cut at %d characters", self.name, text_chars)
                                break
                        for item in parser.close():
                            if isinstance(item, Decision):
                                if decision is None:
                                    decision = item
                                    yield decision
                                continue
                            if usage.first_token_ms is None:
                                usage.first_token_ms = _ms(time.monotonic() - started)
                            produced = text_sent = True
                            yield item
                    finally:
                        aclose = getattr(stream, "aclose", None)
                        if aclose is not None:
                            try:
                                await aclose()
                            except Exception:
                                pass
                    if not produced:
                        raise BadOutput("the model's reply had no text")
            except Exception as exc:
                usage.errors += 1
                kind, retryable = classify(exc)
                if text_sent and kind in RETRYABLE | {"interrupted"}:
                    kind = "interrupted"
                log.warning(
                    "%s: interviewer turn attempt %d failed (%s): %s: %s",
                    self.name,
                    attempt + 1,
                    kind,
                    type(exc).__name__,
                    str(exc)[:300],
                )
                metrics.provider_call(self.provider, kind)
                if text_sent or not retryable or attempt >= self._retries:
                    raise _engine_error(kind, usage, exc) from exc
                metrics.provider_retry(self.provider)
                if decision is not None:
                    attempt_allowed = frozenset({decision.action})
                # Not tenacity's loop: a stream may be retried only while none
                # of it reached the candidate, which is decided mid-attempt.
                await resilience.pause_before_retry(attempt, exc)
                attempt += 1
                continue
            metrics.provider_call(self.provider, "ok")
            yield usage
            return

    # ----- one-shot structured calls -----

    async def _structured(self, messages, schema, usage, convert):
        """convert(dict matching `schema`) from one model call, with timeout and retries.

        Uses the provider's native JSON-schema output (`with_structured_output(
        method="json_schema", include_raw=True)`, which also gives token usage);
        models without it get the JSON shape in the prompt and their text is
        parsed. If the schema does not validate, the raw JSON is read leniently
        and `convert` decides; a reply it cannot use (BadOutput) is retried.
        """
        model = self._model_or_error(usage)
        runnable = self._structured_runnable(model, schema)

        async def once():
            async with asyncio.timeout(self._timeout):
                if runnable is None:
                    raw = await model.ainvoke(messages)
                    parsed = None
                else:
                    result = await runnable.ainvoke(messages)
                    raw, parsed = result.get("raw"), result.get("parsed")
            _add_tokens(usage, raw)
            # Reading the reply and checking its quotes against the answer is
            # text work over user-sized input: keep it off the event loop.
            return await asyncio.to_thread(read, raw, parsed)

        def read(raw, parsed):
            if isinstance(parsed, BaseModel):
                data = parsed.model_dump()
            elif isinstance(parsed, dict):
                data = parsed
            else:
                # The schema did not validate (e.g. a score of 4.5): read the JSON ourselves, leniently.
                data = parse_json_text(replies.message_text(raw))
                if not isinstance(data, dict):
                    raise BadOutput("the reply is not a JSON object")
            return convert(data)

        return await self._retrying(once, usage, "structured call")

    def _structured_runnable(self, model, schema):
        if schema not in self._structured_runnables:
            try:
                runnable = model.with_structured_output(schema, method="json_schema", include_raw=True)
            except (NotImplementedError, TypeError, ValueError):
                runnable = None  # e.g. fake models: ask for JSON in the prompt and parse the text
            self._structured_runnables[schema] = runnable
        return self._structured_runnables[schema]

    async def _retrying(self, once, usage, what):
        """await once() under lib.resilience's policy, keeping `usage` and the
        provider metrics; giving up raises EngineError."""
        attempts = 0

        async def attempt():
            nonlocal attempts
            attempts += 1
            usage.calls += 1
            t0 = time.monotonic()
            try:
                async with self._guarded():
                    result = await once()
            except Exception as exc:
                usage.model_ms += _ms(time.monotonic() - t0)
                usage.errors += 1
                kind, _ = classify(exc)
                log.warning(
                    "%s: %s attempt %d failed (%s): %s: %s",
                    self.name,
                    what,
                    attempts,
                    kind,
                    type(exc).__name__,
                    str(exc)[:300],
                )
                metrics.provider_call(self.provider, kind)
                raise
            usage.model_ms += _ms(time.monotonic() - t0)
            metrics.provider_call(self.provider, "ok")
            return result

        def retry_if(exc):
            return isinstance(exc, Exception) and classify(exc)[1]  # not when cancelled

        try:
            return await resilience.aretry(
                attempt,
                retries=self._retries,
                retry_if=retry_if,
                what=f"{self.name}: {what}",
                on_retry=lambda exc: metrics.provider_retry(self.provider),
            )
        except Exception as exc:
            raise _engine_error(classify(exc)[0], usage, exc) from exc

    # ----- the coach -----

    async def coach(self, ctx, question, answer, metrics):
        """Scores 1-5 per dimension, each with a quote from the answer, via structured output.

        Scores are clamped to 1..5; every evidence quote is checked against the
        answer (verify_evidence) and replaced by the answer's best-matching
        sentence if it is not in it: quotes are never invented.
        """
        usage = Usage()
        messages = prompts.coach_messages(ctx, question, answer, metrics)

        def convert(data):
            # Runs in a thread (see _structured), like the evidence check.
            return self._with_rewrite(self._coach_result(data, answer), data, ctx, question, answer)

        result = await self._structured(messages, CoachOutput, usage, convert)
        result.usage = usage
        return result

    def _with_rewrite(self, result, data, ctx, question, answer):
        """The model's rewrite after the grounding check (rewrite.ground): every
        number, name and claim not in the answer or the résumé is a placeholder
        or gone. Without a usable one, the deterministic rewrite stands in."""
        raw = data.get("rewrite")
        result.rewrite = rewrite.ground(raw if isinstance(raw, str) else "", answer, ctx.resume)
        if not result.rewrite:
            result.rewrite = rewrite.ground(rewrite.build(question, answer, ctx.resume), answer, ctx.resume)
        return result

    def _coach_result(self, data, answer):
        return replies.coach_result(data, answer, source=self.name)

    # ----- the report -----

    async def report(self, ctx, answered):
        """Patterns, strengths and focus areas across the interview, via structured output."""
        usage = Usage()
        messages = prompts.report_messages(ctx, answered)
        narrative = await self._structured(messages, ReportOutput, usage, self._narrative)
        narrative.usage = usage
        return narrative

    def _narrative(self, data):
        return replies.narrative(data, source=self.name)
