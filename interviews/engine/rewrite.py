""""A stronger answer, from your own facts": the rewrite and the check that keeps it so.

    build(question, answer, resume) -> text            the local engine's rewrite
    ground(text, answer, resume) -> text               both engines: the check
    parts(text) -> [(label, [(piece, is_placeholder)])] what the pages show

A rewrite is plain text, one line per part: "Situation: …", "Task: …",
"Action: …", "Result: …" for a story, or "Answer: …", "Details: …",
"Example: …" for a question that is not about one story. A part the candidate
did not give is a placeholder in square brackets ("[the result: what changed,
with a number]"), never an invented fact.

build() only moves the candidate's own sentences into those parts, drops
filler words and trailing "etc.", and replaces vague words: "various tools"
by the tools they named, anything else vague by a placeholder saying what to
give. A résumé line is offered only inside a placeholder, since it may belong
to another story.

ground() is the check a model's rewrite goes through (and build()'s output
passes unchanged): every number and name must occur in the answer or the
résumé, else it becomes a placeholder; a sentence whose content words are
mostly not in them is an invented claim and is removed; a part left empty
gets its placeholder back.

Everything here is CPU work over user-sized text: callers on the event loop
run it in a thread. Inputs are capped, and every regex is linear (bounded
repeats, no nested quantifiers).
"""

import re

from interviews.engine.analysis import (
    MAX_ANSWER_CHARS,
    OUTCOME_NUMBER_RE,
    STAR_RES,
    STOPWORDS,
    content_stems,
    display_term,
    find_numbers,
    question_core,
    sentences_of,
    skill_terms,
    stem,
    words_of,
)
from interviews.engine.questions import is_story_question

MAX_RESUME_CHARS = 20_000
MAX_REWRITE_CHARS = MAX_ANSWER_CHARS + 2_000  # the longest answer, restructured, with its placeholders
MAX_SENTENCES = 80  # of the answer, restructured; a 10,000-character answer has about as many
MAX_RESUME_LINES = 400
MAX_PLACEHOLDERS = 40

STORY_PARTS = ("situation", "task", "action", "result")
OTHER_PARTS = ("answer", "details", "example")
LABELS = {p: p.capitalize() for p in STORY_PARTS + OTHER_PARTS}

GAPS = {
    "situation": "[the situation: where you were and what was going on, in one sentence]",
    "task": "[your task: what you had to achieve, and by when]",
    "action": "[your actions: what you did yourself, step by step]",
    "result": "[the result: what changed, with a number]",
    "answer": "[your answer to the question, in one sentence]",
    "details": "[why: one or two reasons]",
    "example": "[one real example: what you did and what changed, with a number]",
}
RESULT_NUMBER_GAP = "[how much it changed, as a number]"
NUMBER_GAP = "[a number from your own experience]"
NAME_GAP = "[a name from your own experience]"
DETAIL_GAP = "[a detail from your own experience]"

_PLACEHOLDER_RE = re.compile(r"\[[^\[\]\n]{0,300}\]")
_LABEL_RE = re.compile(r"\s{0,10}[*#>-]{0,4}\s{0,4}(situation|task|actions?|results?|answer|details|example)\s{0,4}[*]{0,2}\s{0,4}[:\uff1a]\s{0,4}[*]{0,2}\s{0,4}", re.I)

# ----- cleaning the candidate's sentences -----

_FILLER_RE = re.compile(r"\b(?:um+|uh+|erm+|hmm+|basically|literally|actually)\b,?\s?", re.I)
_YOU_KNOW_RE = re.compile(r",?\s?\b(?:you know|i mean)\b(?=\s?[,.!?]|$),?", re.I)
_LIKE_RE = re.compile(r"(?:^|(?<=,\s)|(?<=[.!?]\s))like,\s?", re.I)
_OPENER_RE = re.compile(r"^(?:so|well|okay|ok|yeah|like)\b,?\s?", re.I)
_TAIL_RE = re.compile(r",?\s?\b(?:etc\b\.?|and so on\b|and so forth\b|or something like that\b|or something\b|something like that\b|and all that\b)", re.I)
_TOOLS_RE = re.compile(r"\b(?:various|lots of|a lot of|some|many|different) (?:tools|technologies|tech|systems|languages|frameworks|platforms)\b", re.I)
_VAGUE_RES = (
    (re.compile(r"\b(?:a lot of|lots of)\b", re.I), "[how many]"),
    (re.compile(r"\ba lot\b", re.I), "[how much, as a number]"),
    (re.compile(r"\b(?:some things|stuff|things)\b", re.I), "[what exactly]"),
    (re.compile(r"\bvarious\b", re.I), "[which ones]"),
    (re.compile(r"\bsomehow\b", re.I), "[how]"),
)
_SPACES_RE = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s([,.;:!?])")
_DOUBLE_COMMA_RE = re.compile(r",\s?(?=[,.;:!?])")


def _tidy(text):
    text = _SPACES_RE.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)
    text = _DOUBLE_COMMA_RE.sub("", text)
    text = text.strip(" ,;")
    if text and text[0].islower() and not text.startswith(("iOS", "e.g")):
        text = text[0].upper() + text[1:]
    return text


def _named_list(names):
    names = [display_term(n) for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _clean(sentence, named_tools, resume_tools):
    """One of the candidate's sentences without fillers, with vague words replaced:
    "various tools" by the tools the answer names, else by a placeholder (which
    may list the résumé's tools: they may belong to another story)."""
    # The candidate's own square brackets would read as placeholders.
    text = sentence.replace("[", "(").replace("]", ")")
    text = _FILLER_RE.sub("", text)
    text = _YOU_KNOW_RE.sub("", text)
    text = _LIKE_RE.sub("", text)
    text = _OPENER_RE.sub("", text.strip())
    text = _TAIL_RE.sub("", text)
    low = text.lower()
    others = [t for t in named_tools if t not in low][:4]
    if others:
        text = _TOOLS_RE.sub(_named_list(others), text, count=1)
    elif resume_tools:
        text = _TOOLS_RE.sub(f"[which tools? Your résumé names {_named_list(resume_tools[:4])}]", text, count=1)
    else:
        text = _TOOLS_RE.sub("[which tools: name them]", text, count=1)
    held = []
    text = _PLACEHOLDER_RE.sub(lambda m: held.append(m.group(0)) or "\ue000", text)
    for rx, gap in _VAGUE_RES:
        text = rx.sub(gap, text)
    for inner in held:
        text = text.replace("\ue000", inner, 1)
    text = _tidy(text)
    if text and sentence.rstrip()[-1:] in ".!?" and text[-1] not in ".!?":
        text += sentence.rstrip()[-1]
    return text


# ----- the local rewrite -----


def _low(text):
    return text.replace("\u2019", "'").replace("\u2018", "'").lower()


# "I profiled", "we agreed", "I personally wrote": something the candidate did,
# when no cue of analysis.STAR_CUES says more.
_DID_RE = re.compile(
    r"\b(?:i|we)\s(?:[a-z]{2,15}ly\s)?(?:[a-z]{2,20}ed|wrote|led|ran|built|made|took|set|put|gave|found|chose|"
    r"spoke|met|brought|sent|taught|began|kept|held|drew|rebuilt|rewrote|split|cut|shut|sold|won)\b"
)


def _cues(sentence):
    low = _low(sentence)
    return {part for part in STORY_PARTS if any(rx.search(low) for rx in STAR_RES[part])}


def _part_of(sentence, cues):
    """The STAR part a sentence tells, or None: a result beats an action beats a task beats the set-up."""
    if any(OUTCOME_NUMBER_RE.search(x) for x in find_numbers(sentence)):
        return "result"
    for part in ("result", "action", "task", "situation"):
        if part in cues:
            return part
    return "action" if _DID_RE.search(_low(sentence)) else None


def _resume_lines(resume):
    lines = []
    for raw in (resume or "")[:MAX_RESUME_CHARS].splitlines()[:MAX_RESUME_LINES]:
        line = raw.strip().lstrip("-*•·–— \t").strip()
        if 10 <= len(line) <= 200:
            lines.append(line.replace("[", "(").replace("]", ")").replace("“", '"').replace("”", '"'))
    return lines


def _resume_hint(lines, answer_stems, outcome):
    """The résumé line closest to the answer's topic (sharing two or more content
    words), or None: one with a measured outcome for a result, one without for a situation."""
    best, best_score = None, 1
    for line in lines:
        if outcome != any(OUTCOME_NUMBER_RE.search(x) for x in find_numbers(line)):
            continue
        score = len(content_stems(line, noise=frozenset()) & answer_stems)
        if score > best_score:
            best, best_score = line, score
    return best


def _gap(part, hint=None):
    if not hint:
        return GAPS[part]
    return GAPS[part][:-1] + f". Your résumé has: \u201c{hint}\u201d]"


def build(question, answer, resume=""):
    """The answer restructured from the candidate's own facts, with the analysis's
    own measures (STAR cues, figures, named skills); "" for an empty answer."""
    answer = (answer or "")[:MAX_ANSWER_CHARS]
    spans = sentences_of(answer)[:MAX_SENTENCES]
    if not spans:
        return ""
    sentences = [answer[s:e] for s, e in spans]
    resume = (resume or "")[:MAX_RESUME_CHARS]
    named_tools = skill_terms(answer)
    resume_tools = [] if named_tools else skill_terms(resume)
    story = is_story_question(question) if (question or "").strip() else True
    if story:
        return _story(sentences, (named_tools, resume_tools), answer, resume)
    return _other(question, sentences, (named_tools, resume_tools), answer)


def _story(sentences, tools, answer, resume):
    grouped = {p: [] for p in STORY_PARTS}
    cues = [_cues(s) for s in sentences]
    found = [_part_of(s, c) for s, c in zip(sentences, cues)]
    # A story's first sentence sets the scene ("At Acme I led the migration…")
    # when it says so, or unless it is the result or the only action there is.
    if len(found) > 1 and (
        "situation" in cues[0] or (found[0] != "result" and (found[0] != "action" or "action" in found[1:]))
    ):
        found[0] = "situation"
    previous = "situation"
    for sentence, part in zip(sentences, found):
        if part is None and previous in ("action", "result") and find_numbers(sentence):
            part = "result"  # "Within three months her pull requests needed half as many rounds."
        part = part or previous
        cleaned = _clean(sentence, *tools)
        if cleaned:
            grouped[part].append(cleaned)
        previous = part
    lines = _resume_lines(resume)
    answer_stems = content_stems(answer, noise=frozenset())
    out = []
    for part in STORY_PARTS:
        body = " ".join(grouped[part])
        if not body:
            need_hint = part in ("situation", "result") and lines
            body = _gap(part, _resume_hint(lines, answer_stems, part == "result") if need_hint else None)
        elif part == "result" and not find_numbers(body):
            body += " " + RESULT_NUMBER_GAP
        out.append(f"{LABELS[part]}: {body}")
    return "\n".join(out)


def _other(question, sentences, tools, answer):
    """A question that is not about one story: the most direct sentence first, then the rest."""
    q_stems = content_stems(question_core(question))
    overlap = [len(q_stems & content_stems(s, noise=frozenset())) for s in sentences]
    first = max(range(len(sentences)), key=lambda i: (overlap[i], -i))
    cleaned = [_clean(s, *tools) for s in sentences]
    rest = " ".join(c for i, c in enumerate(cleaned) if i != first and c)
    out = [f"{LABELS['answer']}: {cleaned[first] or GAPS['answer']}"]
    if rest:
        out.append(f"{LABELS['details']}: {rest}")
    concrete = find_numbers(answer) or any(_part_of(s, _cues(s)) in ("action", "result") for s in sentences)
    if not concrete:
        out.append(f"{LABELS['example']}: {GAPS['example']}")
    return "\n".join(out)


# ----- the check -----

_FIGURE_RE = re.compile(r"[$£€]?\d[\d,.]{0,30}(?:\s?(?:%|percent\b|per cent\b|x\b|k\b|m\b|bn\b))?", re.I)
_DIGITS_RE = re.compile(r"\d[\d,.]{0,30}")
_NUMBER_WORD_RE = re.compile(
    r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    r"sixty|seventy|eighty|ninety|hundreds?|thousands?|millions?|billions?|dozens?|doubled|tripled|quadrupled|halved)\b",
    re.I,
)
# A capitalised word: a name unless it starts a sentence (then it is read as a claim word).
_CAPITAL_RE = re.compile(r"\b[A-Z][A-Za-z0-9&+#'.-]{0,40}")
# Sentences and the text between them, so that the check keeps every character it does not judge.
_CLAUSE_RE = re.compile(r"[^.!?;,\n]+[.!?;,]*|[.!?;,\n]+")
_NOT_NAMES = frozenset({"I", "I'm", "I've", "I'd", "I'll", "OK"})
# Words a restructured answer may add that state no fact of their own.
CONNECTIVES = frozenset(
    """
    situation task action actions result results answer details example first second third then next finally
    after afterwards before later also which meant resulting result led leading so because therefore this that
    my own personally responsible goal needed aim make sure ensure ensured ensuring order achieve achieved
    change changed changes what where when time while took take outcome overall specifically directly
    """.split()
)


# The words of the placeholders this module writes: inside a placeholder they state no fact.
GAP_WORDS = frozenset(
    words_of(" ".join([*GAPS.values(), RESULT_NUMBER_GAP, NUMBER_GAP, NAME_GAP, DETAIL_GAP]))
    + "which tools name them your résumé names has how many much what exactly ones".split()
)


def _figure_key(figure):
    digits = _DIGITS_RE.search(figure)
    return digits.group(0).rstrip(".,").replace(",", "") if digits else ""


class _Source:
    """What the answer and the résumé say: their figures, number words, words and word stems."""

    def __init__(self, answer, resume):
        text = (answer or "")[:MAX_ANSWER_CHARS] + "\n" + (resume or "")[:MAX_RESUME_CHARS]
        self.figures = {_figure_key(m.group(0)) for m in _DIGITS_RE.finditer(text)}
        words = set(words_of(text))
        # "CI/CD" names "CI" too, and "Acme's" names "Acme".
        for word in list(words):
            words.update(part for part in re.split(r"[/.&+#-]", word) if part)
            if word.endswith("'s"):
                words.add(word[:-2])
        self.words = words
        self.stems = {stem(w) for w in self.words}
        self.prefixes = {w[:5] for w in self.words if len(w) >= 5}

    def has_figure(self, figure):
        return _figure_key(figure) in self.figures

    def has_word(self, word):
        word = _low(word).strip(".'-")
        if word.endswith("'s"):
            word = word[:-2]
        return word in self.words

    def knows(self, word):
        """Whether the word, or a form of it ("migrated" for "migration"), occurs."""
        return word in self.words or stem(word) in self.stems or (len(word) >= 5 and word[:5] in self.prefixes)


def _starts_sentence(text, at):
    i = at - 1
    while i >= 0 and text[i] in " \t\"'\u201c\u2018(":
        i -= 1
    return i < 0 or text[i] in ".!?:;\n"


def _check_numbers(text, source):
    def figure(m):
        return m.group(0) if source.has_figure(m.group(0)) else NUMBER_GAP

    def number_word(m):
        return m.group(0) if source.has_word(m.group(0)) else NUMBER_GAP

    return _NUMBER_WORD_RE.sub(number_word, _FIGURE_RE.sub(figure, text))


def _check_names(text, source):
    def name(m):
        word = m.group(0).rstrip(".'-")
        if len(word) < 2 or word in _NOT_NAMES or source.has_word(word):
            return m.group(0)
        acronym = len(word) >= 2 and word.isupper()
        if _starts_sentence(m.string, m.start()) and not acronym:
            return m.group(0)  # "Finally", "Working with…": not a name, read as a claim word
        return NAME_GAP + m.group(0)[len(word):]

    return _CAPITAL_RE.sub(name, text)


def _invented(sentence, source, allowed=frozenset()):
    """Whether a clause's content words are mostly not the candidate's: a claim they did not make."""
    content = [
        w for w in words_of(sentence)
        if len(w) > 2 and not w.isdigit() and w not in STOPWORDS and w not in CONNECTIVES and w not in allowed
    ]
    new = [w for w in content if not source.knows(w)]
    return len(new) >= 3 or (len(new) >= 2 and 3 * len(new) >= len(content))


def _check_claims(text, source, allowed=frozenset()):
    """`text` without its clauses that are invented claims; a clause dropped
    after a comma ends the sentence there."""
    kept = []
    for m in _CLAUSE_RE.finditer(text):
        clause = m.group(0)
        if not _invented(_PLACEHOLDER_RE.sub(" ", clause), source, allowed):
            kept.append(clause)
            continue
        end = clause.rstrip()[-1:]
        if kept and end in ".!?" and kept[-1].rstrip().endswith(","):
            kept[-1] = kept[-1].rstrip()[:-1] + end
    return "".join(kept)


def _merge_gaps(text):
    for gap in (NUMBER_GAP, NAME_GAP):
        doubled = gap + " " + gap
        while doubled in text:
            text = text.replace(doubled, gap)
    return text


def _check_body(body, part, source):
    # A model's placeholder may hide an invented fact too: it keeps no number or name that is not the candidate's.
    placeholders = []

    def hold(m):
        inner = m.group(0)
        if len(placeholders) >= MAX_PLACEHOLDERS:
            return " "
        words = inner[1:-1]
        checked = _check_claims(_check_names(_check_numbers(words, source), source), source, GAP_WORDS)
        if checked != words:
            inner = GAPS.get(part, DETAIL_GAP)
        placeholders.append(inner)
        return chr(0xE000 + len(placeholders) - 1)

    text = _PLACEHOLDER_RE.sub(hold, body)
    # Stray brackets are not placeholders.
    text = text.replace("[", "(").replace("]", ")")
    text = _check_names(_check_numbers(text, source), source)
    text = _merge_gaps(text)
    # The gaps just added are placeholders: claims are judged on the words around them.
    text = _check_claims(text, source)
    for i, inner in enumerate(placeholders):
        text = text.replace(chr(0xE000 + i), inner)
    return _SPACES_RE.sub(" ", text).strip()


# A label inside a line ("… hour. Task: …") starts a line of its own.
_INLINE_LABEL_RE = re.compile(r"[ \t]{1,10}(?=\**(?:Situation|Task|Actions?|Results?|Answer|Details|Example)\**:)")


def _split_label(line):
    m = _LABEL_RE.match(line)
    if not m:
        return None, line
    word = m.group(1).lower()
    part = {"actions": "action", "results": "result"}.get(word, word)
    return part, line[m.end():]


def ground(text, answer, resume=""):
    """`text` with every number, name and claim not in the answer or the résumé
    replaced by a placeholder or removed; a part left empty gets its placeholder."""
    text = (text or "")[:MAX_REWRITE_CHARS]
    if not text.strip():
        return ""
    source = _Source(answer, resume)
    out = []
    for line in _INLINE_LABEL_RE.sub("\n", text).splitlines():
        if not line.strip():
            continue
        part, body = _split_label(line)
        body = _check_body(body, part, source)
        if not re.search(r"\w", body):
            if part is None:
                continue
            body = GAPS[part]
        out.append(f"{LABELS[part]}: {body}" if part else body)
    return "\n".join(out)


def parts(text):
    """The rewrite as [(label, [(piece, is_placeholder), ...])] for a page; label may be ""."""
    out = []
    for line in (text or "")[:MAX_REWRITE_CHARS].splitlines():
        if not line.strip():
            continue
        part, body = _split_label(line)
        pieces, pos = [], 0
        for m in _PLACEHOLDER_RE.finditer(body):
            if m.start() > pos:
                pieces.append((body[pos : m.start()], False))
            pieces.append((m.group(0), True))
            pos = m.end()
        if pos < len(body):
            pieces.append((body[pos:], False))
        out.append((LABELS[part] if part else "", pieces))
    return out
