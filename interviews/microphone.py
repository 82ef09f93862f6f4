"""Live transcription: the browser's microphone in, transcripts out.

The page streams 16 kHz mono 16-bit PCM frames (~100 ms) as binary messages;
this consumer relays them to the live transcriber (Deepgram or the local
engine) and sends the page JSON events: ready, partial, final, speech_started,
utterance_end, error, closed. Only the interview's owner may connect, and a
stream holds one of the provider's capped slots while it is open.

It also decides when the answer is over (issue 11's protocol, the `turn`
event): it keeps the last 8 s of the stream's audio, whatever the provider,
and at each pause the transcriber reports runs the end-of-turn model on it
(speech.turn_detector, in a thread) and reads the transcript's last words
(speech.turn_policy.cue); a TurnPolicy turns those into "send" after a short
pause, or "thinking", then "asking", then "send". Speech cancels any wait;
{"type": "hold"} from the page stops the sends. `closed` carries the answer's
speaking and thinking seconds.

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
from speech import turn_detector
from speech.providers import get_live_transcriber
from speech.providers.base import (
    CLOSED,
    ENDPOINT,
    ERROR,
    FINAL,
    PARTIAL,
    PAUSE,
    SAMPLE_RATE,
    SPEECH_STARTED,
    UTTERANCE_END,
    SpeechError,
    SpeechEvent,
)
from speech.turn_policy import TurnPolicy, cue

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
# Deepgram's "speech started" comes from its VAD and may be a noise that never
# becomes words: after this long without any, the cancelled decision stands.
RESTART_GRACE_SECONDS = 3

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
    provider = None
    audio = None  # turn_detector.RecentAudio: what the end-of-turn model hears
    policy = None  # TurnPolicy
    turn_timer = None  # the task that ticks the policy at its deadline
    judging = None  # (pause's stream time, task of the model's probability)
    deciding = None  # the task deciding at the latest endpoint
    timer_deadline = None
    stopped = False
    generation = 0  # bumped by speech: a decision started before it is dropped
    spoke_at = 0.0  # stream seconds when speech last started

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
        self.audio = turn_detector.RecentAudio()
        self.policy = TurnPolicy(
            asyncio.get_running_loop().time,
            finished_pause=settings.SPEECH_TURN_FINISHED_PAUSE_MS / 1000,
            thinking=settings.SPEECH_TURN_THINKING_SECONDS,
            unsure=settings.SPEECH_TURN_UNSURE_SECONDS,
            ask=settings.SPEECH_TURN_ASK_SECONDS,
            threshold=settings.SPEECH_TURN_THRESHOLD,
            restart_grace=RESTART_GRACE_SECONDS if self.provider == "deepgram" else None,
        )
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
                self.provider = provider
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
        elif text_data == '{"type":"hold"}' or text_data == '{"type": "hold"}':
            self.policy.hold()
            self._schedule_turn()
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
            self.audio.append(data[:cut])
            await self.transcriber.send_audio(data[:cut])

    async def _pump_events(self):
        try:
            async for event in self.transcriber.events():
                if event.type in (PAUSE, ENDPOINT):
                    self._on_pause(event)
                    continue
                message = {"event": event.type}
                if event.text:
                    message["text"] = event.text
                if event.type == FINAL:
                    message["words"] = [[w.word, round(w.start, 2), round(w.end, 2)] for w in event.words]
                if event.message:
                    message["message"] = event.message
                if event.type == CLOSED:
                    message.update(self._seconds())
                await self._send(message)
                # After the relay: the page has every final before a "send".
                await self._on_speech(event)
                if event.type == CLOSED:
                    break
        except Exception:
            log.exception("live transcription failed for %s", self.interview_id)
            await self._send({"event": ERROR, "message": "Live transcription stopped unexpectedly. Your text so far is kept; type the rest or retry."})
        finally:
            await self._release()

    # -- the end of the turn ---------------------------------------------

    def _seconds(self):
        speaking, thinking = self.policy.seconds()
        return {"speaking_seconds": speaking, "thinking_seconds": thinking}

    async def _on_speech(self, event):
        if event.type in (SPEECH_STARTED, PARTIAL, FINAL):
            self.generation += 1
        if event.type == SPEECH_STARTED:
            self.spoke_at = self.audio.seconds
            await self._turn(self.policy.speech_started())
        elif event.type == PARTIAL:
            await self._turn(self.policy.heard())
        elif event.type == FINAL:
            await self._turn(self.policy.final(event.text, [(w.start, w.end) for w in event.words]))
        elif event.type == UTTERANCE_END and self.policy.undecided:
            # No endpoint came for the last words (Deepgram without a
            # speech_final): the utterance end is one.
            self._on_pause(SpeechEvent(ENDPOINT, at=self.policy.last_word_end))

    def _on_pause(self, event):
        """Start the model on the audio up to the pause (plus a little of
        it) as soon as the pause is known; decide at the endpoint."""
        if self.judging is None or self.judging[0] != event.at:
            self.judging = (event.at, asyncio.create_task(self._judge(event.at)))
        if event.type == ENDPOINT and self.spoke_at <= event.at and self.policy.wants_decision():
            if self.deciding is not None:
                self.deciding.cancel()
            self.deciding = asyncio.create_task(self._decide(event.at, self.judging[1], self.generation))

    async def _judge(self, at):
        """The model's view of the audio up to `at` (stream seconds) and
        TRAILING_SILENCE of the pause after it, waiting for that much of the
        pause to arrive if the VAD cut came sooner."""
        wanted = at + turn_detector.TRAILING_SILENCE
        if wanted > self.audio.seconds:
            await asyncio.sleep(wanted - self.audio.seconds)
        return await self._probability(self.audio.until(wanted * SAMPLE_RATE))

    async def _probability(self, pcm):
        try:
            return await asyncio.to_thread(turn_detector.probability, pcm)
        except Exception:
            log.exception("the end-of-turn model failed; deciding on the words alone")
            return None

    async def _decide(self, at, judged, generation):
        probability = await judged
        found = await asyncio.to_thread(cue, self.policy.text)
        if generation != self.generation:
            return  # speech came meanwhile; its own endpoint decides
        ended_at = asyncio.get_running_loop().time() - max(0.0, self.audio.seconds - at)
        await self._turn(self.policy.endpoint(ended_at, probability, found))

    async def _turn(self, messages):
        for message in messages or ():
            await self._send(message)
        self._schedule_turn()

    def _schedule_turn(self):
        """One timer, at the policy's deadline (kept when it has not moved)."""
        deadline = None if self.stopped else self.policy.deadline
        timer = self.turn_timer
        if timer is not None and not timer.done() and self.timer_deadline == deadline:
            return
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        self.turn_timer, self.timer_deadline = None, deadline
        if deadline is not None:
            self.turn_timer = asyncio.create_task(self._tick_at(deadline))

    async def _tick_at(self, deadline):
        await asyncio.sleep(max(0.0, deadline - asyncio.get_running_loop().time()))
        self.timer_deadline = None
        await self._turn(self.policy.tick())

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
        self.stopped = True
        transcriber, self.transcriber = self.transcriber, None
        if transcriber is not None:
            with contextlib.suppress(Exception):
                await transcriber.close()
        judging = self.judging[1] if self.judging else None
        for task in (self.pump, self.watchdog, self.turn_timer, self.deciding, judging):
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
