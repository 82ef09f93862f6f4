from django import template

from interviews.models import DIMENSIONS

register = template.Library()
LABELS = dict(DIMENSIONS)


@register.filter
def dimension_label(key):
    return LABELS.get(key, key.replace("_", " ").capitalize())


@register.filter
def minutes_seconds(seconds):
    seconds = int(seconds or 0)
    return f"{seconds // 60}:{seconds % 60:02d}"
