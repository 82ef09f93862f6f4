from django import template

from interviews.engine.rewrite import parts

register = template.Library()


@register.filter
def rewrite_parts(text):
    """A stored rewrite as [(label, [(piece, is_placeholder), ...])]; the template escapes every piece."""
    return parts(text)
