from django import template
from django.urls import reverse

from interviews.engine.base import DIMENSION_LABELS
from speech.tts import spoken_turns

register = template.Library()
LABELS = DIMENSION_LABELS


@register.filter
def dimension_label(key):
    return LABELS.get(key, key.replace("_", " ").capitalize())


@register.filter
def minutes_seconds(seconds):
    seconds = int(seconds or 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


@register.simple_tag
def replay_urls(interview, turn):
    """The audio URLs of an interviewer turn's spoken sentences, in order (empty if it was not spoken)."""
    # Read once per interview object: a page renders every turn with the same one.
    spoken = getattr(interview, "_spoken_turns", None)
    if spoken is None:
        spoken = interview._spoken_turns = spoken_turns(interview.pk)
    return [reverse("speech_task_audio", args=[task_id]) for task_id in spoken.get(turn.index, [])]
