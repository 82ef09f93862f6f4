"""The interview socket: streams the interviewer's turns and feedback to the room.

One group per interview, so every tab of an interview (on any web process)
sees the same events. Only the interview's owner may connect; everyone else is
closed before anything is sent. Each socket also joins its user's group, so
logging out (4401) or deleting the interview or account (4410) closes it.
"""

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from interviews.sockets import user_group
from lib.logging import bind
from lib.ratelimit import ahit, client_ip
from interviews import turns
from interviews.models import Interview

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


class InterviewConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.interview_id = self.scope["url_route"]["kwargs"]["interview_id"]
        bind(user_id=user.pk, interview_id=self.interview_id)  # tags this socket's log lines and the turns it starts
        state = await self._owned_state(user.pk)
        if state is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.user_id = user.pk
        self.group = turns.group_name(self.interview_id)
        self.user_group = user_group(user.pk)  # logout and deletion close the socket through it
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()
        await self.send_json({"event": "sync", **state["fragments"]})
        if state["needs_turn"]:
            # Due now, or, if a process that died mid-turn still holds the
            # lease, as soon as that lease lapses.
            turns.schedule(turns.run_turn_when_lease_expires(self.interview_id, state["lease_left"]))

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(self.user_group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "retry":
            # The same limit as the HTTP Retry: each one can start a model call.
            wait = await ahit("retries", self.user_id, client_ip(self.scope))
            if wait:
                plural = "" if wait == 1 else "s"
                await self.send_json({"event": "error", "message": f"You're going a bit fast — try again in {wait} second{plural}."})
                return
            # Safe to repeat: run_interviewer_turn only writes when a turn is due
            # and it wins the lease.
            turns.schedule(turns.run_interviewer_turn(self.interview_id))
        elif kind == "ping":
            await self.send_json({"event": "pong"})
        else:
            await self.send_json({"event": "error", "message": "Unknown message."})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if bytes_data is not None or text_data is None or len(text_data) > 4096:
            await self.send_json({"event": "error", "message": "Unsupported message."})
            return
        try:
            await super().receive(text_data=text_data, **kwargs)
        except (ValueError, RecursionError):  # RecursionError: brackets nested too deep for json
            await self.send_json({"event": "error", "message": "Messages must be JSON."})

    async def room_event(self, message):
        await self.send_json(message["payload"])

    async def sockets_close(self, message):
        """Logout (4401) or deletion (4410): sent to the user's group, for one interview or all."""
        interview = message.get("interview")
        if interview is None or str(interview) == str(self.interview_id):
            await self.close(code=message.get("code", CLOSE_UNAUTHENTICATED))

    @database_sync_to_async
    def _owned_state(self, user_id):
        interview = Interview.objects.filter(pk=self.interview_id, owner_id=user_id).first()
        if interview is None:
            return None
        # A turn is due and nobody holds the lease (e.g. the server restarted
        # mid-turn, or this is the first visit): this socket starts it.
        needs_turn = interview.awaiting_interviewer() and not interview.generation_error
        lease_left = (interview.generating_until - timezone.now()).total_seconds() if interview.generating_until else -1
        return {
            "fragments": turns.room_fragments(interview, all_turns=True),
            "needs_turn": needs_turn,
            "lease_left": lease_left,
        }
