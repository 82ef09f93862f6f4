from django import template

from interviews.engine.base import DIMENSION_LABELS

register = template.Library()
LABELS = DIMENSION_LABELS


@register.filter
def dimension_label(key):
    return LABELS.get(key, key.replace("_", " ").capitalize())


@register.filter
def minutes_seconds(seconds):
    seconds = int(seconds or 0)
    return f"{seconds // 60}:{seconds % 60:02d}"
