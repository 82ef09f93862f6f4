from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def email_printed_on_console():
    """True when emails go to the server's console (the development default), so
    the page can say where the confirmation link is."""
    return settings.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend"
