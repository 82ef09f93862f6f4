"""Reading the chat model's replies: the structured-output schemas, the
streamed ACTION/TOPICS/WHY header of an interviewer turn, evidence quotes
checked against the answer, and the coach's and report's JSON turned into
results. Pure functions over text; the calls themselves are in llm.py."""

import json
import re
from difflib import SequenceMatcher

from pydantic import BaseModel, Field

from interviews.engine import policy
from interviews.engine.base import (
    ACTIONS,
    CLOSE,
    DIMENSIONS,
    FOLLOW_UP,
    INTRODUCE,
    NEW_QUESTION,
    CoachResult,
    Decision,
    ReportNarrative,
)
# A header longer than this is not a header: the output is treated as text.
HEADER_MAX_CHARS = 800
MAX_TOPICS = 3
MAX_LIST_ITEMS = 5


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


def message_text(message):
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


def coach_result(data, answer, source):
    """A CoachResult from the model's (leniently read) JSON; BadOutput if it cannot be used."""
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
    return CoachResult(scores=scores, strengths=strengths, improvements=improvements, text=text, source=source)


def narrative(data, source):
    """A ReportNarrative from the model's JSON; BadOutput if it has no patterns paragraph."""
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
        source=source,
    )
