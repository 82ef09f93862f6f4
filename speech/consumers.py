"""Live transcription: the browser's microphone in, transcripts out.

The page streams 16 kHz mono 16-bit PCM frames (~100 ms) as binary messages;
this consumer relays them to the live transcriber (Deepgram or the local
engine) and sends the page JSON events: ready, partial, final, speech_started,
utterance_end, error, closed. Only the interview's owner may connect, and a
stream holds one of the provider's capped slots while it is open.
"""

import asyncio
import contextlib
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from interviewer import metrics
from interviewer.logging import bind
from interviewer.ratelimit import ahit, client_ip
from interviews.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from interviews.models import Interview
from speech.caps import CapFull, get_cap
from speech.providers import get_live_transcriber
from speech.providers.base import CLOSED, ERROR, FINAL, SpeechError

log = logging.getLogger(__name__)

CLOSE_BUSY = 4429
# 1 s of 16 kHz 16-bit mono; the page sends ~100 ms frames.
MAX_FRAME_BYTES = 32_000
# One answer never needs more than this much audio.
MAX_STREAM_SECONDS = 15 * 60


def live_cap_name(provider):
    return "deepgram" if provider == "deepgram" else "local_stt"


class SpeechConsumer(AsyncWebsocketConsumer):
    transcriber = None
    slot = None
    pump = None
    odd_byte = b""
    bytes_received = 0
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
        await self.accept()
        metrics.stream_opened()
        self.counted = True
        wait = await ahit("speech_sockets", user.pk, client_ip(self.scope))
        if wait:
            await self._send({"event": ERROR, "message": f"You're going a bit fast — try the microphone again in {wait} seconds, or type your answer."})
            await self.close(code=CLOSE_BUSY)
            return
        self.transcriber = await self._open_transcriber()
        if self.transcriber is None:
            await self.close(code=CLOSE_BUSY)
            return
        self.pump = asyncio.create_task(self._pump_events())
        await self._send({"event": "ready", "sample_rate": 16000})

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
                self.slot = await get_cap(live_cap_name(provider)).atry_acquire()
            except CapFull:
                continue
            transcriber = get_live_transcriber(provider=provider)
            try:
                await transcriber.start()
                return transcriber
            except SpeechError as exc:
                log.warning("live transcription with %s failed to start: %s", provider, exc)
                message = str(exc)
                await self._release()
        await self._send({"event": ERROR, "message": message})
        return None

    async def receive(self, text_data=None, bytes_data=None):
        if self.transcriber is None:
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
        self.bytes_received += len(frame)
        if self.bytes_received > MAX_STREAM_SECONDS * 32_000:
            await self._send({"event": ERROR, "message": "This answer is over 15 minutes long; the microphone was stopped."})
            await self.transcriber.finish()
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
        # The slot first: nothing below may stand between a vanished browser
        # and its slot going back to the pool.
        await self._release()
        if self.transcriber is not None:
            with contextlib.suppress(Exception):
                await self.transcriber.close()
        if self.pump is not None and not self.pump.done():
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.pump

    async def _release(self):
        slot, self.slot = self.slot, None
        if slot is not None:
            with contextlib.suppress(Exception):
                await slot.arelease()

    async def _send(self, message):
        import json

        with contextlib.suppress(Exception):
            await self.send(text_data=json.dumps(message))

    @database_sync_to_async
    def _owns_active_interview(self, user_id):
        return Interview.objects.filter(pk=self.interview_id, owner_id=user_id, status=Interview.Status.ACTIVE).exists()
