"""When is a spoken answer over? The transcript's cues and the turn-taking policy.

Pure and synchronous: no model, no event loop, no settings. The microphone
socket (interviews.microphone) feeds a `TurnPolicy` what the transcriber and
the end-of-turn model (speech.turn_detector) report, and sends the page the
`turn` messages it returns:

    policy = TurnPolicy(clock, finished_pause=0.8, thinking=25, unsure=4, ask=5, threshold=0.5)
    policy.speech_started()                -> messages   (speech cancels any wait)
    policy.heard()                         (a partial: words are coming)
    policy.final(text, words)              (settled words, with stream times)
    policy.endpoint(ended_at, p, cue)      -> messages   (every final so far is out)
    policy.tick()                          -> messages   (call at policy.deadline)
    policy.hold()                          (the candidate edits: no more sends)
    policy.seconds()                       -> (speaking, thinking)

At an endpoint it decides: finished (the model's probability reaches the
threshold, or the candidate asked the interviewer a question) is sent
`finished_pause` after the end of speech; unfinished (dangling last words, or
a filler such as "let me think") waits `thinking` seconds, then asks "are you
done?" for `ask` seconds, then sends. Unsure (the words sound complete but the
model is below the threshold) waits only `unsure` seconds before it asks: the
model alone is a weaker sign of a thinker than the words, and a complete
answer must not wait half a minute because one intonation fooled it. Speech at
any point cancels the wait, and the next endpoint decides again on the whole
answer.

`cue(text)` reads the end of the transcript: "filler", "question",
"dangling" or None. It splits and compares words (no backtracking regexes)
over the last CUE_CHARS characters only.
"""

import logging
import re

log = logging.getLogger(__name__)

CUE_CHARS = 300
THINKING_GAP = 1.0  # seconds: a shorter gap between words is part of speaking

# Sounds and phrases that hold the floor while the speaker thinks.
FILLER_SOUNDS = {"um", "umm", "uh", "uhh", "uhm", "er", "erm", "hmm", "hm", "mm", "mmm", "ah"}
THINKING_PHRASES = (
    "let me think",
    "let me see",
    "give me a second",
    "give me a sec",
    "give me a moment",
    "give me a minute",
    "bear with me",
    "how do i put it",
    "how should i put it",
    "how can i put it",
    "how do i say",
    "how should i say",
    "how can i say",
    "what's the word",
    "what is the word",
)
# Short phrases that mean "wait" only when they are (nearly) all the sentence.
WAIT_PHRASES = ("one second", "one moment", "just a second", "just a moment", "hold on", "wait")
# Asking the interviewer something: they should answer, not wait.
ASKING_PHRASES = (
    "repeat the question",
    "repeat that",
    "say that again",
    "rephrase",
    "what do you mean",
    "could you clarify",
    "can you clarify",
)
# Words a finished sentence almost never ends on. Prepositions that also end
# phrasal verbs or relative clauses ("the team I worked with", "proud of",
# "move on") are left to the model.
DANGLING_WORDS = {
    "a", "an", "the",
    "and", "but", "or", "nor", "because", "cause", "although", "though", "whereas", "unless", "if",
    "whether", "than", "as", "plus",
    "my", "our", "your", "their", "its", "these", "those", "every", "each",
    "which", "whose", "whom",
    "i", "we", "they", "he", "she",
    "to", "into", "between",
    "i'm", "we're", "they're", "it's", "that's", "there's", "i'd", "we'd", "i'll", "we'll", "i've", "we've",
    "would", "could", "should", "will", "can", "must", "might",
    "very",
    # A verb waiting for its complement ("the hardest part was"), and the
    # prepositions that seldom end a spoken sentence. Whisper often writes a
    # full stop after them all the same, and the model is easily fooled there.
    "was", "were", "is", "are", "am", "be", "been", "being",
    "of", "for", "about", "from", "at", "by", "like", "such",
}  # fmt: skip
DANGLING_ENDINGS = (",", "...", "\u2026", "-", "\u2014", ":", ";")

_SENTENCE_END = re.compile(r"[.!?]\s+")
# Digits too: "…went from 40 to 12." ends on "12", not on the dangling "to".
_WORD = re.compile(r"[a-z0-9']+")


def cue(text):
    """What the end of the transcript says about the turn: "filler" (holding
    the floor to think), "question" (asking the interviewer), "dangling"
    (stopped mid-sentence) or None (nothing: the model decides)."""
    tail = (text or "")[-CUE_CHARS:].strip().lower().replace("\u2019", "'")
    if not tail:
        return None
    sentence = _SENTENCE_END.split(tail)[-1]
    words = _WORD.findall(sentence)
    joined = " " + " ".join(words) + " "
    if words and words[-1] in FILLER_SOUNDS:
        return "filler"
    if any(f" {phrase} " in joined for phrase in THINKING_PHRASES):
        return "filler"
    if len(words) <= 4 and any(f" {phrase} " in joined for phrase in WAIT_PHRASES):
        return "filler"
    if any(f" {phrase} " in joined for phrase in ASKING_PHRASES):
        return "question"
    if sentence.endswith("?") and ({"you", "your"} & set(words)):
        return "question"
    if tail.endswith(DANGLING_ENDINGS) or (words and words[-1] in DANGLING_WORDS):
        return "dangling"
    return None


FINISHED, UNSURE, UNFINISHED = "finished", "unsure", "unfinished"


def verdict(probability, cue_found, threshold):
    """FINISHED, UNSURE or UNFINISHED, from the model's probability and the transcript's cue."""
    if cue_found in ("filler", "dangling"):
        return UNFINISHED
    if cue_found == "question":
        return FINISHED
    # Without the model (it failed to load or run) the words decide alone.
    if probability is None or probability >= threshold:
        return FINISHED
    return UNSURE


def is_finished(probability, cue_found, threshold):
    return verdict(probability, cue_found, threshold) == FINISHED


# States
LISTENING = "listening"  # nothing scheduled: speech, or silence before the first words
WAITING = "waiting"  # finished: the short pause before "send"
THINKING = "thinking"  # unfinished: the long wait
ASKING = "asking"  # "are you done?" countdown
RESTARTED = "restarted"  # speech began after a decision and no words have come yet
SENT = "sent"
HELD = "held"


class TurnPolicy:
    def __init__(self, clock, *, finished_pause, thinking, ask, threshold, unsure=None, restart_grace=None):
        """Durations in seconds. `clock()` returns seconds (the event loop's time).
        `unsure` (the wait when only the model doubts the end) defaults to `thinking`.

        `restart_grace`: for a transcriber whose "speech started" may be noise
        that never becomes words (Deepgram's VAD event): after this long with
        no words, the cancelled decision stands again. None trusts every start
        (the local VAD always ends speech with an endpoint)."""
        self.clock = clock
        self.finished_pause = finished_pause
        self.thinking = thinking
        self.unsure = thinking if unsure is None else min(unsure, thinking)
        self.ask = ask
        self.threshold = threshold
        self.restart_grace = restart_grace
        self.state = LISTENING
        self.deadline = None
        self.texts = []
        self.spans = []  # (start, end) of every word, stream seconds
        self.undecided = False  # words since the last endpoint
        self._decision = None  # (verdict, ended_at) of the last endpoint

    @property
    def text(self):
        return " ".join(self.texts)

    @property
    def last_word_end(self):
        return max((end for _start, end in self.spans), default=0.0)

    @property
    def open(self):
        return self.state not in (SENT, HELD)

    # -- inputs --------------------------------------------------------

    def speech_started(self):
        return self._cancel(self.restart_grace)

    def heard(self):
        """Words (a partial or a final): speech for certain."""
        if self.state == RESTARTED:
            self.state, self.deadline = LISTENING, None
        return self._cancel(None)

    def final(self, text, words):
        if text:
            self.texts.append(text)
            self.undecided = True
        self.spans.extend((float(start), float(end)) for start, end in words)
        return self.heard()

    def wants_decision(self):
        """Is there an answer whose end is not decided yet?"""
        return self.open and bool(self.texts) and (self.undecided or self.state in (LISTENING, RESTARTED))

    def endpoint(self, ended_at, probability, cue_found):
        """Every final up to the end of speech (`ended_at`, clock time) is out:
        decide how long to wait."""
        self.undecided = False
        if not self.open or not self.texts:
            return []
        decided = verdict(probability, cue_found, self.threshold)
        self._decision = (decided, ended_at)
        messages = self._wait(decided, ended_at)
        log.debug(
            "turn: p=%s cue=%s -> %s, wait %.2f s after the end of speech",
            "none" if probability is None else f"{probability:.3f}",
            cue_found,
            decided,
            self._pause_for(decided),
        )
        return messages

    def hold(self):
        if self.open:
            self.state, self.deadline = HELD, None

    def tick(self):
        now = self.clock()
        if self.deadline is None or now < self.deadline:
            return []
        if self.state == RESTARTED:
            return self._wait(*self._decision)
        if self.state == WAITING:
            return self._send("model")
        if self.state == THINKING:
            self.state, self.deadline = ASKING, now + self.ask
            return [{"event": "turn", "state": "asking", "send_in_ms": _ms(self.ask)}]
        if self.state == ASKING:
            return self._send("timeout")
        return []

    def _cancel(self, grace):
        if self.state not in (WAITING, THINKING, ASKING):
            return []
        self.state, self.deadline = LISTENING, None
        if grace is not None:
            self.state, self.deadline = RESTARTED, self.clock() + grace
        return [{"event": "turn", "state": "listening"}]

    # -- outputs -------------------------------------------------------

    def seconds(self):
        """(speaking, thinking): the speech in the answer, and the pauses of at
        least THINKING_GAP between its words, from the words' stream times."""
        speaking = thinking = 0.0
        segment = None
        for start, end in sorted(self.spans):
            if segment is not None and start - segment[1] < THINKING_GAP:
                segment[1] = max(segment[1], end)
                continue
            if segment is not None:
                speaking += segment[1] - segment[0]
                thinking += start - segment[1]
            segment = [start, end]
        if segment is not None:
            speaking += segment[1] - segment[0]
        return round(speaking, 2), round(thinking, 2)

    def _pause_for(self, decided):
        return {FINISHED: self.finished_pause, UNSURE: self.unsure}.get(decided, self.thinking)

    def _wait(self, decided, ended_at):
        if decided == FINISHED:
            self.state, self.deadline = WAITING, ended_at + self.finished_pause
            return self.tick()
        self.state, self.deadline = THINKING, ended_at + self._pause_for(decided)
        messages = self.tick()
        if self.state == THINKING:
            left = max(0.0, self.deadline - self.clock())
            messages = [{"event": "turn", "state": "thinking", "ask_in_ms": _ms(left)}]
        return messages

    def _send(self, ended_by):
        self.state, self.deadline = SENT, None
        speaking, thinking = self.seconds()
        return [
            {
                "event": "turn",
                "state": "send",
                "ended_by": ended_by,
                "speaking_seconds": speaking,
                "thinking_seconds": thinking,
            }
        ]


def _ms(seconds):
    return int(round(seconds * 1000))
