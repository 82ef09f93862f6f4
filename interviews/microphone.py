"""Live transcription: the browser's microphone in, transcripts out.

The page streams 16 kHz mono 16-bit PCM frames (~100 ms) as binary messages;
this consumer relays them to the live transcriber (Deepgram or the local
engine) and sends the page JSON events: ready, partial, final, speech_started,
utterance_end, error, closed. Only the interview's owner may connect, and a
stream holds one of the provider's capped slots while it is open.

No one can hoard those slots: a user has at most one stream (a new one takes
over from the old), a stream closes after SPEECH_STREAM_IDLE_SECONDS without
a frame and SPEECH_STREAM_MAX_SECONDS after it opened, and logout or deletion
closes it (the "sockets.close" message to the group `user.<pk>`). Each close
tells the page why first, as an error event.
"""

import asyncio
import contextlib
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from interviews.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from interviews.models import Interview
from interviews.sockets import user_group
from lib import metrics
from lib.caps import CapFull, get_cap, user_stream_cap
from lib.logging import bind
from lib.ratelimit import ahit, client_ip
from speech.providers import get_live_transcriber
from speech.providers.base import CLOSED, ERROR, FINAL, SpeechError

log = logging.getLogger(__name__)

CLOSE_BUSY = 4429
CLOSE_IDLE = 4408
CLOSE_ELSEWHERE = 4409  # the user's stream is (now) in another tab
CLOSE_TOO_LONG = 4413
BYTES_PER_SECOND = 32_000  # 16 kHz 16-bit mono
# 1 s of audio; the page sends ~100 ms frames.
MAX_FRAME_BYTES = BYTES_PER_SECOND
# How long a new stream waits for the user's other stream to let go of its slot.
TAKEOVER_WAIT_SECONDS = 5
# How long a stream ended by a time limit waits for its last words.
FLUSH_SECONDS = 10

IDLE_MESSAGE = "The microphone was closed after {} without audio from it. Press 🎤 to start again, or type your answer."
TOO_LONG_MESSAGE = "This answer reached the limit of {}, so the microphone stopped. Your words so far are kept."
TAKEN_OVER_MESSAGE = "The microphone is now on in another tab or window, so it stopped here. Press 🎤 to use it here again."
ELSEWHERE_MESSAGE = "You already have the microphone on in another tab or window. Stop it there, or try again in a moment."


def live_cap_name(provider):
    return "deepgram" if provider == "deepgram" else "local_stt_live"


def stream_group(user_pk):
    """The user's speech sockets only (the room socket has no handler for a takeover)."""
    return f"speech.user.{user_pk}"


def _duration(seconds):
    if seconds >= 60:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


class SpeechConsumer(AsyncWebsocketConsumer):
    transcriber = None
    slot = None  # the provider's
    user_slot = None  # the user's one stream
    user_pk = None
    pump = None
    watchdog = None
    ending = False
    odd_byte = b""
    bytes_received = 0
    started_at = last_frame_at = 0.0  # loop time
    counted = False  # in the live-streams gauge

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.interview_id = self.scope["url_route"]["kwargs"]["interview_id"]
        bind(user_id=user.pk, interview_id=self.interview_id)
        if not await self._owns_active_interview(user.pk):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.user_pk = user.pk
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        await self.channel_layer.group_add(stream_group(user.pk), self.channel_name)
        await self.accept()
        metrics.stream_opened()
        self.counted = True
        wait = await ahit("speech_sockets", user.pk, client_ip(self.scope))
        if wait:
            await self._send({"event": ERROR, "message": f"You're going a bit fast — try the microphone again in {wait} seconds, or type your answer."})
            await self.close(code=CLOSE_BUSY)
            return
        self.user_slot = await self._claim_user_stream()
        if self.user_slot is None:
            await self._send({"event": ERROR, "message": ELSEWHERE_MESSAGE})
            await self.close(code=CLOSE_ELSEWHERE)
            return
        self.transcriber = await self._open_transcriber()
        if self.transcriber is None:
            await self._release()
            await self.close(code=CLOSE_BUSY)
            return
        self.pump = asyncio.create_task(self._pump_events())
        self.started_at = self.last_frame_at = asyncio.get_running_loop().time()
        self.watchdog = asyncio.create_task(self._watch())
        await self._send({"event": "ready", "sample_rate": 16000})

    def _renew_for(self):
        # Slots outlive no stream: not renewed past its time limit.
        return settings.SPEECH_STREAM_MAX_SECONDS + FLUSH_SECONDS

    async def _claim_user_stream(self):
        """The user's one stream slot, taken over from their other stream if
        they have one; None if that one does not let go in time.

        Taking over rather than refusing: a second stream is nearly always
        the same person after a reload, a dropped connection or in a new tab,
        who wants the microphone here and now; refusing would make them find
        and stop the old one (or wait out its idle timeout). Either way the
        user holds one slot; the old tab is told why it stopped."""
        cap = user_stream_cap(self.user_pk)
        try:
            return await cap.atry_acquire(renew_for=self._renew_for())
        except CapFull:
            pass
        await self.channel_layer.group_send(stream_group(self.user_pk), {"type": "speech.takeover", "by": self.channel_name})
        try:
            # The old stream may be on another process or host; a dead one's
            # lease lapses within CAP_LEASE_SECONDS, longer than this wait.
            return await cap.aacquire(timeout=TAKEOVER_WAIT_SECONDS, renew_for=self._renew_for())
        except CapFull:
            return None

    async def speech_takeover(self, message):
        if message["by"] == self.channel_name or self.user_slot is None:
            return
        await self._end(CLOSE_ELSEWHERE, TAKEN_OVER_MESSAGE)

    async def sockets_close(self, message):
        """Logout or deletion (see interviews/sockets.py)."""
        if message.get("interview") not in (None, str(self.interview_id)):
            return
        await self._end(message.get("code", CLOSE_UNAUTHENTICATED))

    async def _watch(self):
        """End the stream SPEECH_STREAM_IDLE_SECONDS after its last frame or
        SPEECH_STREAM_MAX_SECONDS after it opened, whichever comes first.

        Idle means no frames at all: the page sends frames, silent ones
        included, all the time the microphone is on, so a candidate thinking
        in silence is never cut off."""
        loop = asyncio.get_running_loop()
        idle, longest = settings.SPEECH_STREAM_IDLE_SECONDS, settings.SPEECH_STREAM_MAX_SECONDS
        ends_at = self.started_at + longest
        while True:
            now = loop.time()
            idle_at = self.last_frame_at + idle
            if now >= ends_at:
                await self._finish_and_end(CLOSE_TOO_LONG, TOO_LONG_MESSAGE.format(_duration(longest)))
                return
            if now >= idle_at:
                await self._finish_and_end(CLOSE_IDLE, IDLE_MESSAGE.format(_duration(idle)))
                return
            await asyncio.sleep(min(ends_at, idle_at) - now)

    async def _finish_and_end(self, code, message):
        """End the stream after giving the transcriber a bounded time to send
        its last words (they are the end of the answer)."""
        if self.ending:
            return
        self.ending = True
        await self._send({"event": ERROR, "message": message})
        if self.transcriber is not None and self.pump is not None and not self.pump.done():
            with contextlib.suppress(Exception):
                await self.transcriber.finish()
                await asyncio.wait([self.pump], timeout=FLUSH_SECONDS)
        await self._end(code)

    async def _end(self, code, message=None):
        """Close from the server side: the page is told why, the slots go back at once."""
        self.ending = True
        if message:
            await self._send({"event": ERROR, "message": message})
        await self._stop()
        with contextlib.suppress(Exception):
            await self.close(code=code)

    async def _open_transcriber(self):
        """A started transcriber holding a capped slot, or None after telling the page why.

        The configured provider first; when it is full or failing and
        SPEECH_LIVE_FALLBACK is "local", the local engine."""
        providers = [settings.SPEECH_LIVE_STT]
        if settings.SPEECH_LIVE_STT != "local" and settings.SPEECH_LIVE_FALLBACK == "local":
            providers.append("local")
        message = "Live transcription is busy right now. Type your answer, or try the microphone again in a minute."
        for provider in providers:
            try:
                self.slot = await get_cap(live_cap_name(provider)).atry_acquire(renew_for=self._renew_for())
            except CapFull:
                continue
            transcriber = get_live_transcriber(provider=provider)
            try:
                await transcriber.start()
                return transcriber
            except SpeechError as exc:
                log.warning("live transcription with %s failed to start: %s", provider, exc)
                message = str(exc)
                await self._release_provider()
        await self._send({"event": ERROR, "message": message})
        return None

    async def receive(self, text_data=None, bytes_data=None):
        if self.transcriber is None or self.ending:
            return
        if bytes_data is not None:
            await self._audio(bytes_data)
        elif text_data == '{"type":"finish"}' or text_data == '{"type": "finish"}':
            await self.transcriber.finish()
        else:
            await self._send({"event": ERROR, "message": "Unsupported message."})

    async def _audio(self, frame):
        if len(frame) > MAX_FRAME_BYTES:
            await self._send({"event": ERROR, "message": "Audio frame too large; send about 100 ms at a time."})
            return
        self.last_frame_at = asyncio.get_running_loop().time()
        # The time limit is the watchdog's; this stops audio sent faster than
        # real time from buying more transcription than that.
        self.bytes_received += len(frame)
        if self.bytes_received > settings.SPEECH_STREAM_MAX_SECONDS * BYTES_PER_SECOND:
            await self._finish_and_end(CLOSE_TOO_LONG, TOO_LONG_MESSAGE.format(_duration(settings.SPEECH_STREAM_MAX_SECONDS)))
            return
        # Frames may split a 16-bit sample; carry the odd byte to the next frame.
        data = self.odd_byte + frame
        cut = len(data) - len(data) % 2
        self.odd_byte = data[cut:]
        if cut:
            await self.transcriber.send_audio(data[:cut])

    async def _pump_events(self):
        try:
            async for event in self.transcriber.events():
                message = {"event": event.type}
                if event.text:
                    message["text"] = event.text
                if event.type == FINAL:
                    message["words"] = [[w.word, round(w.start, 2), round(w.end, 2)] for w in event.words]
                if event.message:
                    message["message"] = event.message
                await self._send(message)
                if event.type == CLOSED:
                    break
        except Exception:
            log.exception("live transcription failed for %s", self.interview_id)
            await self._send({"event": ERROR, "message": "Live transcription stopped unexpectedly. Your text so far is kept; type the rest or retry."})
        finally:
            await self._release()

    async def disconnect(self, code):
        if self.counted:
            self.counted = False
            metrics.stream_closed()
        await self._stop()
        if self.user_pk is not None:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(user_group(self.user_pk), self.channel_name)
                await self.channel_layer.group_discard(stream_group(self.user_pk), self.channel_name)

    async def _stop(self):
        # The slots first: nothing below may stand between a vanished browser
        # and its slots going back to the pool.
        await self._release()
        transcriber, self.transcriber = self.transcriber, None
        if transcriber is not None:
            with contextlib.suppress(Exception):
                await transcriber.close()
        for task in (self.pump, self.watchdog):
            if task is not None and task is not asyncio.current_task() and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _release(self):
        await self._release_provider()
        slot, self.user_slot = self.user_slot, None
        if slot is not None:
            with contextlib.suppress(Exception):
                await slot.arelease()

    async def _release_provider(self):
        slot, self.slot = self.slot, None
        if slot is not None:
            with contextlib.suppress(Exception):
                await slot.arelease()

    async def _send(self, message):
        with contextlib.suppress(Exception):
            await self.send(text_data=json.dumps(message))

    @database_sync_to_async
    def _owns_active_interview(self, user_id):
        return Interview.objects.filter(pk=self.interview_id, owner_id=user_id, status=Interview.Status.ACTIVE).exists()
