"""The rules every engine obeys: when it may follow up, move on or close.

Count-based interviews ask exactly `question_count` main questions, with at most
MAX_FOLLOW_UPS follow-ups on each. Time-based ones never close before
MIN_FRACTION_TO_CLOSE of the time and always close once time is up.
"""

from interviews.engine.base import CLOSE, FOLLOW_UP, INTRODUCE, NEW_QUESTION

MAX_FOLLOW_UPS = 2
MIN_FRACTION_TO_CLOSE = 0.7
# In the last stretch there is no time for another main question and its answer.
NO_NEW_QUESTION_SECONDS = 75


def allowed_actions(ctx):
    if not ctx.transcript:
        return frozenset({INTRODUCE})
    can_follow_up = ctx.follow_ups_on_current < MAX_FOLLOW_UPS
    if ctx.time_based:
        if ctx.seconds_left <= 0:
            return frozenset({CLOSE})
        allowed = {NEW_QUESTION}
        if can_follow_up:
            allowed.add(FOLLOW_UP)
        if ctx.fraction_done >= MIN_FRACTION_TO_CLOSE:
            allowed.add(CLOSE)
            if ctx.seconds_left < NO_NEW_QUESTION_SECONDS:
                allowed.discard(NEW_QUESTION)
        return frozenset(allowed)
    if ctx.main_questions_asked >= ctx.question_count:
        return frozenset({FOLLOW_UP, CLOSE} if can_follow_up else {CLOSE})
    return frozenset({NEW_QUESTION, FOLLOW_UP} if can_follow_up else {NEW_QUESTION})


def coerce(action, allowed):
    """The action an engine chose, or the nearest allowed one if it broke the rules."""
    if action in allowed:
        return action
    for fallback in (NEW_QUESTION, CLOSE, FOLLOW_UP, INTRODUCE):
        if fallback in allowed:
            return fallback
    raise ValueError("no action allowed")


KIND_FOR_ACTION = {INTRODUCE: "introduction", NEW_QUESTION: "question", FOLLOW_UP: "follow_up", CLOSE: "closing"}
