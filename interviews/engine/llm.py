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
import re
import time
from difflib import SequenceMatcher

from django.conf import settings
from pydantic import BaseModel, Field

from lib import metrics, resilience
from lib.caps import CapFull, get_cap
from interviews.engine import policy, prompts, rewrite
from interviews.engine.base import (
    ACTIONS,
    CLOSE,
    DIMENSIONS,
    FOLLOW_UP,
    INTRODUCE,
    NEW_QUESTION,
    CoachResult,
    Decision,
    EngineError,
    ReportNarrative,
    Usage,
)

log = logging.getLogger(__name__)

# A header longer than this is not a header: the output is treated as text.
HEADER_MAX_CHARS = 800
MAX_TOPICS = 3
MAX_LIST_ITEMS = 5

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


class BadOutput(Exception):
    """The model answered, but not in a form we can use (retryable)."""


# ----- structured output schemas -----


class DimensionScore(BaseModel):
    score: int = Field(description="1 (poor) to 5 (excellent)")
    evidence: str = Field(description="a short quote copied word for word from the candidate's answer")
    note: str = Field(description="one sentence explaining the score")


class CoachScores(BaseModel):
    relevance: DimensionScore
    structure: DimensionScore
    specificity: DimensionScore
    communication: DimensionScore
    role_fit: DimensionScore


class CoachOutput(BaseModel):
    scores: CoachScores
    strengths: list[str] = Field(description="up to 3 short strengths")
    improvements: list[str] = Field(description="up to 3 short, actionable improvements")
    text: str = Field(
        description="3-5 sentences to the candidate: impression, strengths, improvements, remarks on structure "
        "as the question's kind needs it (STAR only for a story question)"
    )
    # In the same call as the scores: a second call would send the whole
    # prompt (job, answer, metrics) again and make the feedback wait for both.
    # Required, so the model always writes it; a reply without it is read
    # leniently (see _structured) and the built-in rewrite stands in.
    rewrite: str = Field(
        description="the answer rewritten from the candidate's own facts only, one line per STAR part; "
        "[a placeholder in square brackets] for anything they did not say",
    )


class FocusArea(BaseModel):
    area: str
    why: str
    next_steps: list[str]


class ReportOutput(BaseModel):
    patterns: str
    strengths: list[str]
    focus_areas: list[FocusArea]


assert tuple(CoachScores.model_fields) == DIMENSIONS


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


# ----- the streamed header -----

_HEADER_LINE = re.compile(r"^[*_`#\s]*(action|topics?|why|reason|justification)[*_`\s]*[:=]\s*(.*)$", re.I)
_HEADER_KEYS = ("action", "topics", "topic", "why", "reason", "justification")
_ACTION_SYNONYMS = {
    "followup": FOLLOW_UP,
    "follow": FOLLOW_UP,
    "probe": FOLLOW_UP,
    "question": NEW_QUESTION,
    "next_question": NEW_QUESTION,
    "new": NEW_QUESTION,
    "ask": NEW_QUESTION,
    "end": CLOSE,
    "closing": CLOSE,
    "close_interview": CLOSE,
    "intro": INTRODUCE,
    "introduction": INTRODUCE,
}


def _normalise_action(raw):
    word = re.sub(r"[^a-z_ -]", "", (raw or "").lower()).strip().replace("-", "_").replace(" ", "_")
    if word in ACTIONS:
        return word
    return _ACTION_SYNONYMS.get(word, word)


def _could_be_header(partial):
    """True if an incomplete line might still turn into a header line or the separator."""
    s = partial.lstrip(" \t*_`#").lower()
    if not s:
        return True
    if set(s.strip()) <= {"-"}:
        return True
    for key in _HEADER_KEYS:
        if key.startswith(s) or s.startswith(key):
            return True
    return False


class TurnParser:
    """Splits a streamed `ACTION/TOPICS/WHY --- text` reply into a Decision and text chunks.

    feed() and close() return lists of items: at most one Decision (before any
    text), then str chunks. A reply without a readable header is all text, with
    the default allowed action.
    """

    def __init__(self, allowed):
        self.allowed = frozenset(allowed)
        self.in_header = True
        self.buf = ""
        self.header_chars = 0
        self.fields = {}
        self.started_text = False

    def feed(self, text):
        if not text:
            return []
        if not self.in_header:
            return self._text(text)
        self.buf += text
        out = []
        while self.in_header and "\n" in self.buf:
            line, rest = self.buf.split("\n", 1)
            stripped = line.strip()
            m = _HEADER_LINE.match(stripped)
            if not stripped or stripped.startswith("```"):
                self.buf = rest
            elif len(stripped) >= 3 and set(stripped) <= {"-"}:
                return out + self._end_header(rest)
            elif m:
                key = m.group(1).lower()
                key = {"topic": "topics", "reason": "why", "justification": "why"}.get(key, key)
                self.fields.setdefault(key, m.group(2).strip())
                self.header_chars += len(line) + 1
                self.buf = rest
            else:
                # Not a header line: the header (if any) is over and this is the text.
                return out + self._end_header(self.buf)
            if self.header_chars > HEADER_MAX_CHARS:
                return out + self._end_header(self.buf)
        if self.in_header and (not _could_be_header(self.buf) or len(self.buf) > HEADER_MAX_CHARS):
            return out + self._end_header(self.buf)
        return out

    def close(self):
        if self.in_header:
            rest = self.buf
            items = self.feed("\n") if rest.strip() else []
            if self.in_header:
                items += self._end_header("")
            return items
        return []

    def _end_header(self, remaining):
        self.in_header = False
        self.buf = ""
        return [self._decision()] + self._text(remaining)

    def _text(self, text):
        if not self.started_text:
            text = text.lstrip()
            if not text:
                return []
            self.started_text = True
        return [text]

    def _decision(self):
        chosen = _normalise_action(self.fields.get("action"))
        action = policy.coerce(chosen, self.allowed)
        why = re.sub(r"\s+", " ", self.fields.get("why", "")).strip()
        if not self.fields.get("action"):
            why = (why + " " if why else "") + "(No action in the model's reply; the default was used.)"
        elif action != chosen:
            why = (why + " " if why else "") + f"(The model chose '{chosen}', which was not allowed here.)"
        topics = []
        for topic in re.split(r"[;,|]", self.fields.get("topics", "")):
            topic = topic.strip(" .*`\"'").strip()
            if topic and topic.lower() not in {"none", "n/a", "-"} and topic not in topics:
                topics.append(topic[:60])
        return Decision(action=action, justification=why[:500], topics=topics[:MAX_TOPICS])


# ----- evidence -----

_QUOTE_CHARS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


def _normalise_with_map(text):
    """Lower-cased, whitespace-collapsed text, and for each of its characters the index in `text`."""
    out, index = [], []
    prev_space = True
    for i, ch in enumerate(text.translate(_QUOTE_CHARS)):
        if ch.isspace():
            if not prev_space:
                out.append(" ")
                index.append(i)
            prev_space = True
            continue
        out.append(ch.lower())
        index.append(i)
        prev_space = False
    if out and out[-1] == " ":
        out.pop()
        index.pop()
    return "".join(out), index


def _norm(text):
    return _normalise_with_map(text)[0]


def sentences(text):
    parts = re.split(r"(?<=[.!?])\s+|\n+", text or "")
    return [p.strip() for p in parts if p and p.strip()]


def _best_sentence(answer, hint):
    candidates = sentences(answer)
    if not candidates:
        return ""
    hint_n = _norm(hint)
    hint_words = set(re.findall(r"\w+", hint_n))

    def score(sentence):
        s = _norm(sentence)
        words = set(re.findall(r"\w+", s))
        overlap = len(words & hint_words) / (len(hint_words) or 1)
        return overlap + SequenceMatcher(None, s, hint_n).ratio() * 0.5

    return max(candidates, key=score)


def verify_evidence(evidence, answer, hint=""):
    """The evidence as a verbatim slice of the answer, or the answer's best-matching sentence.

    Matching ignores case, runs of whitespace, curly quotes, and quote marks or
    ellipses the model wrapped the quote in. Never returns text not in the answer.
    """
    answer = answer or ""
    quote = (evidence or "").strip()
    unwrapped = re.sub(r"^(\.\.\.|…)\s*|\s*(\.\.\.|…)$", "", quote.strip("\"'“”‘’").strip()).strip()
    norm_answer, index = _normalise_with_map(answer)
    for candidate in (quote, unwrapped):
        norm_quote = _norm(candidate)
        at = norm_answer.find(norm_quote) if norm_quote else -1
        if at >= 0:
            return answer[index[at] : index[at + len(norm_quote) - 1] + 1]
    return _best_sentence(answer, unwrapped or hint)


def _clamp_score(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadOutput(f"score is not a number: {value!r}") from None
    if number != number:  # NaN
        raise BadOutput("score is NaN")
    return max(1, min(5, int(round(number))))


def _str_list(value, limit=MAX_LIST_ITEMS):
    if isinstance(value, str):
        value = [value]
    items = []
    for item in value or []:
        text = str(item).strip() if item is not None else ""
        if text and text not in items:
            items.append(text)
    return items[:limit]


def parse_json_text(text):
    """The first JSON object in a model's text (code fences and chatter around it are ignored)."""
    text = (text or "").strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    start = text.find("{")
    if start >= 0:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[start:])
            return obj
        except ValueError:
            pass
    raise BadOutput("the reply is not JSON")


def _message_text(message):
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type", "text") == "text":
            parts.append(block.get("text", ""))
    return "".join(parts)


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
                            piece = _message_text(chunk)
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
                data = parse_json_text(_message_text(raw))
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
        raw_scores = data.get("scores")
        if not isinstance(raw_scores, dict):
            raise BadOutput("no scores")
        scores = {}
        for dim in DIMENSIONS:
            item = raw_scores.get(dim)
            if isinstance(item, (int, float, str)) and not isinstance(item, bool):
                item = {"score": item}
            if not isinstance(item, dict) or "score" not in item:
                raise BadOutput(f"no score for {dim}")
            note = str(item.get("note") or "").strip()
            scores[dim] = {
                "score": _clamp_score(item.get("score")),
                "evidence": verify_evidence(str(item.get("evidence") or ""), answer, hint=note),
                "note": note,
            }
        strengths = _str_list(data.get("strengths"))
        improvements = _str_list(data.get("improvements"))
        text = str(data.get("text") or "").strip()
        if not text:
            bits = []
            if strengths:
                bits.append("Strengths: " + " ".join(strengths))
            if improvements:
                bits.append("To improve: " + " ".join(improvements))
            text = " ".join(bits)
        return CoachResult(scores=scores, strengths=strengths, improvements=improvements, text=text, source=self.name)

    # ----- the report -----

    async def report(self, ctx, answered):
        """Patterns, strengths and focus areas across the interview, via structured output."""
        usage = Usage()
        messages = prompts.report_messages(ctx, answered)
        narrative = await self._structured(messages, ReportOutput, usage, self._narrative)
        narrative.usage = usage
        return narrative

    def _narrative(self, data):
        patterns = str(data.get("patterns") or "").strip()
        if not patterns:
            raise BadOutput("no patterns paragraph")
        focus_areas = []
        for item in data.get("focus_areas") or []:
            if isinstance(item, str):
                item = {"area": item}
            if not isinstance(item, dict):
                continue
            area = str(item.get("area") or "").strip()
            if area:
                focus_areas.append(
                    {
                        "area": area,
                        "why": str(item.get("why") or "").strip(),
                        "next_steps": _str_list(item.get("next_steps")),
                    }
                )
        return ReportNarrative(
            patterns=patterns,
            strengths=_str_list(data.get("strengths")),
            focus_areas=focus_areas[:MAX_LIST_ITEMS],
            source=self.name,
        )
