"""Closing a user's open sockets when they log out or delete their data.

The interview and speech consumers join the channel-layer group
"user.<pk>" and close when they receive a "sockets.close" message for their
interview (or for every interview, when "interview" is None).
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

LOGGED_OUT = 4401
DELETED = 4410


def user_group(user_pk):
    return f"user.{user_pk}"


def close_sockets(user_pk, code, interview_id=None):
    """Ask the user's sockets (all of them, or one interview's) to close.

    Best effort: by now the logout or deletion has happened, and must not
    fail because the channel layer is unreachable.
    """
    message = {"type": "sockets.close", "interview": str(interview_id) if interview_id else None, "code": code}
    try:
        async_to_sync(get_channel_layer().group_send)(user_group(user_pk), message)
    except Exception as exc:
        log.warning("could not close the sockets of user %s: %s: %s", user_pk, type(exc).__name__, exc)


def close_on_logout(sender, request, user, **kwargs):
    """Django's user_logged_out hook: every way out (allauth's page, the admin's) passes here.

    After an account deletion the user has no pk any more: the deletion has
    already closed the sockets with its own code.
    """
    if user is not None and user.pk is not None:
        close_sockets(user.pk, LOGGED_OUT)
