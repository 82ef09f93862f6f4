"""Voice turn-taking figure for `make bench` (issue 11).

Recorded answers (piper, the app's own voice) are played into the app's
microphone socket in real time, as the page's microphone would send them:
100 ms frames of 16 kHz s16le PCM at real-time pace, then silent frames until
the server says `turn`/`send` (v_protocol.md). The bench then behaves like the
page: it POSTs the answer form at once (source=live_voice, ended_by, speaking
and thinking seconds, the committed finals as the text), sends {"type":"finish"}
and listens on the room socket for the next question's first sentence
(`speech.sentence`), whose audio it GETs, timing the first byte.

    voice_turns_figure(env_base)      # the figure: finished answers, paused answers, the model alone

Three parts:

- finished answers, one at a time on an otherwise idle server: end of speech →
  `send`, → answer POSTed, → first byte of the next question's audio;
- answers with a 5, 10 or 20 s pause mid-sentence or after "let me think"
  (two candidates at once; the live transcription cap's default is 2): how
  many were cut, i.e. sent before the second half was spoken, or sent without it;
- the end-of-turn model alone (speech.turn_detector, in a Django process of its
  own once the server has stopped): accuracy on the recordings, finished at the
  end vs. unfinished at the pause, and CPU seconds per decision.

Recordings are cached under bench/.run/voice_turns/ (gitignored). Traffic goes
to 127.0.0.1 only. Standalone, merging the figure into bench/results.json and
rewriting bench/RESULTS.md:

    python -m bench.voice_turns --write
"""

import argparse
import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.speech_bench import (  # noqa: E402
    _fetch_first_byte,
    _load_average,
    _make_sessions,
    _manage_shell,
    _ms_percentiles,
    _task_details,
    new_voice_interview,
)
from tests.live_server import LiveServer  # noqa: E402

CACHE_DIR = ROOT / "bench" / ".run" / "voice_turns"
RECORDING_VERSION = "1"  # change to remake the cached recordings
SAMPLE_RATE = 16_000
BYTES_PER_SECOND = 32_000
FRAME_BYTES = 3200  # 100 ms, what the page sends
FRAME_SECONDS = 0.1
LEAD_SECONDS = 0.5  # silence before the first word, as after pressing 🎤
# Silence after the speech given to the model alone: what the server gives it
# (speech.turn_detector.TRAILING_SILENCE; model_figure checks they agree).
DECISION_TAIL_SECONDS = 0.8
MODEL_WINDOW_SECONDS = 8.0
# Longest the server may take to send after the last word: thinking + asking
# (SPEECH_TURN_THINKING_SECONDS ≈ 25, SPEECH_TURN_ASK_SECONDS ≈ 5) and a margin.
SEND_LIMIT_SECONDS = 45

WARMUP = "Hello, and thank you for having me."
FINISHED = [
    ("short", "Yes, I have."),
    ("one_sentence", "I led the migration of our billing service to Kubernetes, and deploys dropped from two hours to ten minutes."),
    (
        "long",
        "In my last role I was the lead engineer on the payments team. We had outages at peak hours, so I added "
        "load tests to the pipeline, put circuit breakers around the card provider, and wrote the runbook with the "
        "on-call team. Over the next quarter incidents fell by half.",
    ),
    ("number", "We grew the team from four engineers to twelve."),
    ("big_number", "On launch day we had about two hundred thousand users, and by the end of the month five hundred thousand."),
    ("question_back", "Do you mean in a team setting, or on my own projects?"),
    ("repeat_please", "Sorry, could you repeat the question, please?"),
    ("list", "My strengths are clear communication, ownership, and a habit of writing things down."),
    ("plan", "I plan the week on Monday, agree priorities with my manager, and keep Friday afternoons for reviews."),
]
# (name, first half, second half): the pause falls between them.
PAUSED = [
    ("mid_sentence", "In my last role I was responsible for", "the payments platform, and I cut our deploy time to ten minutes."),
    ("let_me_think", "That's a good question, let me think.", "I would start by measuring where the time goes, then fix the slowest step first."),
    ("after_because", "I chose PostgreSQL because", "the team knew it well and it handled our reporting queries without a separate warehouse."),
]
PAUSE_SECONDS = (5, 10, 20)


# ----- recordings -----


@dataclass
class Recording:
    name: str
    kind: str  # "warmup", "finished" or "paused"
    text: str  # what is said, both halves
    pcm: bytes = field(repr=False)
    speech_end: float  # seconds from the start of the recording to the end of the last word
    pause: float = 0.0  # seconds of silence between the halves
    pause_start: float | None = None  # end of the first half's last word
    resume: float | None = None  # start of the second half's first word
    second_half: str = ""

    @property
    def seconds(self):
        return len(self.pcm) / BYTES_PER_SECOND


def recording_specs():
    """Every recording the figure uses: (name, kind, pause seconds, first text, second text)."""
    specs = [("warmup", "warmup", 0, WARMUP, "")]
    specs += [(name, "finished", 0, text, "") for name, text in FINISHED]
    for pause in PAUSE_SECONDS:
        specs += [(f"{name}_{pause}s", "paused", pause, first, second) for name, first, second in PAUSED]
    return specs


def _cache_key(text):
    return hashlib.sha1(f"{RECORDING_VERSION}|{text}".encode()).hexdigest()[:16]


def synthesize_missing(cache_dir, texts):
    """In a Django process (piper's voice is found through settings): each text
    spoken by piper as 16 kHz s16le PCM in cache_dir/<key>.pcm, unless there already."""
    from speech.audio import wav_to_pcm16k
    from speech.providers.local_tts import LocalSynthesizer

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    synthesizer = LocalSynthesizer()
    made = 0
    for text in texts:
        path = cache_dir / f"{_cache_key(text)}.pcm"
        if not path.exists():
            path.write_bytes(wav_to_pcm16k(synthesizer.synthesize(text).data))
            made += 1
    return made


def _django_env():
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "interviewer.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-voice-" + "x" * 40,
        "DEBUG": "true",  # no server here: only settings for the models
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
    }


def _run_django(args, timeout=600):
    """`python -m bench.voice_turns <args>` in a Django-configured process; its last stdout line as JSON."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.voice_turns", *args],
        cwd=ROOT,
        env=_django_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.voice_turns {args[0]} failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _voiced_bounds(pcm, window=160, level=400):
    """(first, last) sample of audible sound (10 ms windows with a peak above `level`)."""
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2")
    n = len(samples) // window
    if not n:
        return 0, 0
    peaks = np.abs(samples[: n * window].reshape(n, window).astype(np.int32)).max(axis=1)
    loud = np.flatnonzero(peaks > level)
    if not len(loud):
        return 0, 0
    return int(loud[0]) * window, int(loud[-1] + 1) * window


def _silence(seconds):
    return bytes(int(seconds * SAMPLE_RATE) * 2)


def load_recordings(cache_dir=CACHE_DIR, names=None):
    """The recordings (made with piper first if not cached), in recording_specs() order,
    only `names` if given."""
    specs = [s for s in recording_specs() if names is None or s[0] in names]
    texts = sorted({t for s in specs for t in (s[3], s[4]) if t})
    if any(not (Path(cache_dir) / f"{_cache_key(t)}.pcm").exists() for t in texts):
        _run_django(["synthesize", str(cache_dir), json.dumps(texts)])
    recordings = []
    for name, kind, pause, first, second in specs:
        first_pcm = (Path(cache_dir) / f"{_cache_key(first)}.pcm").read_bytes()
        lead = _silence(LEAD_SECONDS)
        if not second:
            pcm = lead + first_pcm
            end = (len(lead) // 2 + _voiced_bounds(first_pcm)[1]) / SAMPLE_RATE
            recordings.append(Recording(name, kind, first, pcm, speech_end=end))
            continue
        second_pcm = (Path(cache_dir) / f"{_cache_key(second)}.pcm").read_bytes()
        # The pause is silence between the last word and the next: piper's own
        # leading and trailing silence is trimmed so that it is exactly `pause`.
        a0, a1 = _voiced_bounds(first_pcm)
        b0, b1 = _voiced_bounds(second_pcm)
        head = lead + first_pcm[: a1 * 2]
        pcm = head + _silence(pause) + second_pcm[b0 * 2 :]
        pause_start = len(head) / BYTES_PER_SECOND
        resume = pause_start + pause
        recordings.append(
            Recording(
                name,
                kind,
                f"{first} {second}",
                pcm,
                speech_end=resume + (b1 - b0) / SAMPLE_RATE,
                pause=pause,
                pause_start=pause_start,
                resume=resume,
                second_half=second,
            )
        )
    return recordings


# ----- what the page does -----


WORD = re.compile(r"[a-z]+")


def content_words(text):
    return [w for w in WORD.findall(text.lower()) if len(w) >= 4]


def has_second_half(answer, second_half):
    """Whether most of the second half's words (4+ letters) are in the answer:
    Whisper tiny.en misspells some words, so not all of them."""
    wanted = content_words(second_half)
    if not wanted:
        return True
    have = set(content_words(answer))
    return sum(w in have for w in wanted) >= 0.5 * len(wanted)


@dataclass
class Played:
    """One answer played into the microphone socket; times are seconds from the
    recording's start (t0: its first sample was captured)."""

    name: str
    kind: str
    pause: float
    events: list = field(default_factory=list)  # (t, message) from the speech socket
    send: dict | None = None  # the turn/send event
    send_at: float | None = None
    answer: str = ""  # the committed text posted
    posted_at: float | None = None
    sentence_at: float | None = None
    first_byte_at: float | None = None
    audio_url: str = ""
    frames_sent: int = 0
    send_lag_max: float = 0.0
    error: str = ""


def _committed_text(events):
    return " ".join(m["text"].strip() for _, m in events if m.get("event") == "final" and m.get("text", "").strip())


async def play_answer(ws, recording, limit=SEND_LIMIT_SECONDS):
    """Play `recording` then silence into an open, ready speech socket until
    `turn`/`send` (or the recording's end + `limit`); returns (Played, t0)."""
    played = Played(recording.name, recording.kind, recording.pause)
    t0 = time.perf_counter() + 0.05
    silent = bytes(FRAME_BYTES)

    async def reader():
        async for raw in ws:
            if isinstance(raw, bytes):
                continue
            message = json.loads(raw)
            played.events.append((time.perf_counter() - t0, message))
            event = message.get("event")
            if event == "turn" and message.get("state") == "send":
                return message
            if event == "closed":
                return None

    reading = asyncio.create_task(reader())
    total = (len(recording.pcm) + FRAME_BYTES - 1) // FRAME_BYTES
    last_frame = total + int((recording.seconds - recording.speech_end + limit) / FRAME_SECONDS)
    k = 0
    try:
        while not reading.done() and k < last_frame:
            # A microphone delivers a frame once its 100 ms have been captured.
            due = t0 + (k + 1) * FRAME_SECONDS
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.wait([reading], timeout=delay)
                if reading.done():
                    break
            frame = recording.pcm[k * FRAME_BYTES : (k + 1) * FRAME_BYTES] if k < total else silent
            await ws.send(frame.ljust(FRAME_BYTES, b"\0"))
            played.send_lag_max = max(played.send_lag_max, time.perf_counter() - due)
            k += 1
        played.frames_sent = k
        if not reading.done():
            await asyncio.wait([reading], timeout=2)
        played.send = reading.result() if reading.done() and not reading.cancelled() else None
    except Exception as exc:  # recorded, not raised: the figure counts errors
        played.error = f"{type(exc).__name__}: {exc}"
    finally:
        if not reading.done():
            reading.cancel()
    if played.send is not None:
        played.send_at = played.events[-1][0]
    elif not played.error:
        errors = [m.get("message", "") for _, m in played.events if m.get("event") == "error"]
        played.error = "no turn/send" + (f": {errors[-1]}" if errors else "")
    played.answer = _committed_text(played.events)
    return played, t0


class Room:
    """The interview socket, read all the time into a queue with arrival times."""

    def __init__(self, ws):
        self.ws = ws
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._read())

    async def _read(self):
        async for raw in self.ws:
            self.queue.put_nowait((time.perf_counter(), json.loads(raw)))

    async def next_question(self, http, timeout=120):
        """Until turn.done: (turn index, interview finished, audio urls, (announced at, first byte at) of the first sentence)."""
        urls, fetch, sentence_at, fetch_started = [], None, None, None
        while True:
            at, message = await asyncio.wait_for(self.queue.get(), timeout)
            event = message.get("event")
            if event == "speech.sentence":
                urls.append(message["url"])
                if fetch is None:
                    sentence_at, fetch_started = at, time.perf_counter()
                    fetch = asyncio.create_task(_fetch_first_byte(http, message["url"]))
            elif event == "turn.failed":
                raise RuntimeError(f"turn failed: {message.get('message')}")
            elif event == "turn.done":
                finished = "This interview has ended" in message.get("answer_area", "")
                first = None
                if fetch is not None:
                    first_byte, _, status = await fetch
                    if status != 200 or first_byte is None:
                        raise RuntimeError(f"sentence audio answered {status}")
                    first = (sentence_at, fetch_started + first_byte)
                # The rest of the question, as the page plays it: the tts worker
                # is idle again before the next answer.
                await asyncio.gather(*(_fetch_first_byte(http, u) for u in urls[1:]))
                return message["turn_index"], finished, urls, first

    async def close(self):
        self.task.cancel()
        await self.ws.close()




async def candidate(base, session, recordings, questions=20):
    """One candidate answering `recordings` in order by voice, in as many
    interviews as that takes; a Played per recording answered. An answer that
    fails ends its interview (the next one starts a new one); two end the run."""
    import httpx
    import websockets

    host = urlparse(base).netloc
    ws_headers = {"Cookie": f"sessionid={session}", "Origin": base}
    out = []
    async with httpx.AsyncClient(base_url=base, cookies={"sessionid": session}, timeout=60) as http:
        (await http.get("/interviews/new/")).raise_for_status()
        csrf = http.cookies.get("csrftoken")
        pending = list(recordings)
        while pending:
            interview_id = await new_voice_interview(http, base, csrf, questions)
            room = Room(await websockets.connect(f"ws://{host}/ws/interviews/{interview_id}/", additional_headers=ws_headers, max_size=2**22, open_timeout=30))
            try:
                turn_index, finished, _, _ = await room.next_question(http)
                while pending and not finished:
                    recording = pending.pop(0)
                    played, turn_index, finished = await _answer(http, csrf, host, ws_headers, interview_id, room, turn_index, recording)
                    out.append(played)
                    if sum(bool(p.error) for p in out) >= 2:
                        return out
            finally:
                await room.close()
    return out


async def _answer(http, csrf, host, ws_headers, interview_id, room, turn_index, recording):
    """One answer by voice, as the page gives it; (Played, next turn index, interview finished)."""
    import websockets

    async with websockets.connect(
        f"ws://{host}/ws/interviews/{interview_id}/speech/", additional_headers=ws_headers, max_size=2**22, open_timeout=30
    ) as ws:
        ready = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if ready.get("event") != "ready":
            played = Played(recording.name, recording.kind, recording.pause, error=f"not ready: {ready}")
            return played, turn_index, True
        played, t0 = await play_answer(ws, recording)
        if played.send is None or not played.answer:
            played.error = played.error or "sent with no text"
            return played, turn_index, True
        send = played.send
        post = asyncio.create_task(
            _timed_post(
                http,
                f"/interviews/{interview_id}/answer/",
                data={
                    "answer": played.answer,
                    "after_index": turn_index,
                    "source": "live_voice",
                    "ended_by": send.get("ended_by", ""),
                    "speaking_seconds": send.get("speaking_seconds", ""),
                    "thinking_seconds": send.get("thinking_seconds", ""),
                    "csrfmiddlewaretoken": csrf,
                },
                headers={"HX-Request": "true", "X-CSRFToken": csrf},
            )
        )
        # Then the page closes the microphone, without waiting.
        with_finish = asyncio.create_task(ws.send('{"type":"finish"}'))
        question = asyncio.create_task(room.next_question(http))
        try:
            response, response_at = await post
            if response.status_code != 200 or "error-box" in response.text:
                raise RuntimeError(f"answer refused: {response.status_code} {response.text[:200]}")
            next_index, finished, urls, first = await question
        except Exception as exc:
            question.cancel()
            played.error = f"{type(exc).__name__}: {exc}"
            return played, turn_index, True
        finally:
            await asyncio.gather(with_finish, return_exceptions=True)
    played.posted_at = response_at - t0
    if first is not None:
        played.sentence_at, played.first_byte_at = first[0] - t0, first[1] - t0
        played.audio_url = urls[0]
    return played, next_index, finished


async def _timed_post(http, url, **kwargs):
    """(response, the moment it arrived)."""
    response = await http.post(url, **kwargs)
    return response, time.perf_counter()


# ----- the figure -----


def _turn_events(played, state):
    return [t for t, m in played.events if m.get("event") == "turn" and m.get("state") == state]


def _last_final_before_send(played):
    times = [t for t, m in played.events if m.get("event") == "final" and (played.send_at is None or t <= played.send_at)]
    return times[-1] if times else None


def finished_row(played, recording):
    """Per finished answer: each step, in seconds from the end of speech."""
    end = recording.speech_end
    final = _last_final_before_send(played)
    row = {
        "name": played.name,
        "ended_by": (played.send or {}).get("ended_by"),
        "thinking_shown": bool(_turn_events(played, "thinking")),
        "answer": played.answer,
        "error": played.error,
        "speech_s": round(end - LEAD_SECONDS, 2),
        "speaking_seconds": (played.send or {}).get("speaking_seconds"),
    }

    def since_end(t):
        return None if t is None else round(t - end, 4)

    row.update(
        final_s=since_end(final),
        send_s=since_end(played.send_at),
        posted_s=since_end(played.posted_at),
        sentence_s=since_end(played.sentence_at),
        first_audio_s=since_end(played.first_byte_at),
        audio_url=played.audio_url,
    )
    return row


def paused_row(played, recording):
    send_at = played.send_at
    sent_early = send_at is not None and send_at < recording.resume
    missing = not has_second_half(played.answer, recording.second_half)
    thinking = [t for t in _turn_events(played, "thinking") if recording.pause_start <= t < recording.resume]
    return {
        "name": played.name,
        "pause_s": recording.pause,
        "cut": bool(played.error) or sent_early or missing,
        "sent_before_second_half": sent_early,
        "second_half_missing": missing,
        "thinking_shown_in_pause_s": round(thinking[0] - recording.pause_start, 2) if thinking else None,
        "asking_in_pause": any(recording.pause_start <= t < recording.resume for t in _turn_events(played, "asking")),
        "ended_by": (played.send or {}).get("ended_by"),
        "send_after_end_s": round(send_at - recording.speech_end, 3) if send_at is not None and not sent_early else None,
        "thinking_seconds": (played.send or {}).get("thinking_seconds"),
        # The finals the server had when it decided at the pause.
        "text_at_pause": _committed_text([(t, m) for t, m in played.events if t < recording.resume]),
        "answer": played.answer,
        "error": played.error,
    }


def _summarise_finished(rows):
    good = [r for r in rows if not r["error"]]

    def pct(key):
        return _ms_percentiles([r[key] for r in good if r.get(key) is not None])

    return {
        "n": len(rows),
        "errors": len(rows) - len(good),
        "ended_by": {k: sum(r["ended_by"] == k for r in good) for k in sorted({r["ended_by"] or "none" for r in good})},
        "thinking_shown": sum(r["thinking_shown"] for r in good),
        "final_ms": pct("final_s"),  # VAD pause + Whisper's final
        "send_ms": pct("send_s"),  # + the decision's wait
        "posted_ms": pct("posted_s"),
        "sentence_ms": pct("sentence_s"),  # + POST + interviewer engine's first sentence
        "first_audio_ms": pct("first_audio_s"),  # + piper's first sentence
    }


def _summarise_paused(rows):
    out = {}
    for pause in sorted({r["pause_s"] for r in rows}):
        group = [r for r in rows if r["pause_s"] == pause]
        out[f"{pause:g}"] = {
            "n": len(group),
            "cut": sum(r["cut"] for r in group),
            "sent_before_second_half": sum(r["sent_before_second_half"] for r in group),
            "second_half_missing": sum(r["second_half_missing"] for r in group),
            "thinking_shown": sum(r["thinking_shown_in_pause_s"] is not None for r in group),
            "errors": sum(bool(r["error"]) for r in group),
            "ended_by": {k: sum(r["ended_by"] == k for r in group) for k in sorted({r["ended_by"] or "none" for r in group})},
        }
    return out


def _stored_answers(server):
    """The spoken answers as the app stored them: how many, and how each ended."""
    code = (
        "import json\n"
        "from django.db.models import Count\n"
        "from interviews.models import Turn\n"
        "turns = Turn.objects.filter(source=Turn.Source.LIVE_VOICE)\n"
        "ended = {r['ended_by'] or 'none': r['n'] for r in turns.values('ended_by').annotate(n=Count('id'))}\n"
        "print(json.dumps({'live_voice': turns.count(), 'ended_by': ended,\n"
        "                  'with_thinking_seconds': turns.filter(thinking_seconds__isnull=False).count()}))\n"
    )
    return _manage_shell(server, code)


def _run_candidates(server, sessions, lanes):
    async def run():
        return await asyncio.gather(*(candidate(server.url, s, lane) for s, lane in zip(sessions, lanes)))

    return asyncio.run(run())


def voice_turns_figure(env_base: dict, names=None, lanes=2, model_runs=3, cache_dir=CACHE_DIR) -> dict:
    """The figure (see the module docstring). `names`: only these recordings
    (recording_specs() names; "warmup" is always played first if included)."""
    from bench.run import commit, machine

    started = time.perf_counter()
    recordings = load_recordings(cache_dir, names)
    by_name = {r.name: r for r in recordings}
    finished = [r for r in recordings if r.kind in ("warmup", "finished")]
    paused = [r for r in recordings if r.kind == "paused"]
    env = {
        **env_base,
        "INTERVIEW_LLM": "local",
        "INTERVIEW_LOCAL_STREAM_DELAY": "0",
        "SPEECH_LIVE_STT": "local",
        "SPEECH_TTS": "local",
        "RATE_LIMITS_ENABLED": "false",
    }
    with LiveServer(env=env, clusters=LiveServer.ALL_CLUSTERS) as server:
        stack = {
            "database": "PostgreSQL" if server.env.get("DATABASE_URL", "").startswith("postgres") else "SQLite",
            "channel_layer": "Redis" if server.env.get("REDIS_URL") else "in-memory",
            "debug": server.env.get("DEBUG"),
        }
        sessions = _make_sessions(server, 1 + lanes)
        marks = server.log_marks()
        load_before = _load_average()
        # Finished answers alone on the server, so their latency is not another's.
        first = _run_candidates(server, sessions[:1], [finished])[0] if finished else []
        # Longest first, each to the lane with the least audio so far: the lanes end together.
        split = [[] for _ in range(lanes)]
        for recording in sorted(paused, key=lambda r: -r.seconds):
            min(split, key=lambda lane: sum(r.seconds for r in lane)).append(recording)
        second = [p for lane in _run_candidates(server, sessions[1 : 1 + lanes], [s for s in split if s]) for p in lane]
        task_ids = [p.audio_url.rstrip("/").split("/")[-2] for p in first if p.audio_url]
        details = _task_details(server, task_ids) if task_ids else {}
        stored = _stored_answers(server)
        server_errors = server.errors_since(marks)
        server.check_alive()
        load_after = _load_average()
    finished_rows = [finished_row(p, by_name[p.name]) for p in first if p.kind == "finished"]
    for row in finished_rows:
        if row["audio_url"]:
            row.update(details.get(row["audio_url"].rstrip("/").split("/")[-2], {}))
    warmup = [finished_row(p, by_name[p.name]) for p in first if p.kind == "warmup"]
    paused_rows = [paused_row(p, by_name[p.name]) for p in second]
    errors = [f"{p.name}: {p.error}" for p in first + second if p.error]
    live_wall = time.perf_counter() - started
    model = _run_django(["model", str(cache_dir), json.dumps(names), str(model_runs)]) if model_runs else {}
    uncached = [r for r in finished_rows if not r.get("cached") and not r["error"]]
    summary = _summarise_finished(finished_rows)
    summary["first_audio_uncached_ms"] = _ms_percentiles([r["first_audio_s"] for r in uncached if r.get("first_audio_s") is not None])
    summary["tts_queue_ms"] = _ms_percentiles([r["queue_ms"] / 1000 for r in uncached if r.get("queue_ms") is not None])
    summary["tts_worker_ms"] = _ms_percentiles([r["worker_ms"] / 1000 for r in uncached if r.get("worker_ms") is not None])
    summary["cached_first_sentences"] = sum(bool(r.get("cached")) for r in finished_rows)
    return {
        "date": _now(),
        "commit": commit(),
        "machine": machine(),
        "stack": stack,
        "finished": summary,
        "finished_answers": finished_rows,
        "warmup": warmup,
        "paused": _summarise_paused(paused_rows),
        "paused_answers": paused_rows,
        "model": model,
        "target_first_audio_p50_ms": 1500,
        "target_cut": 0,
        "recordings": {r.name: {"kind": r.kind, "seconds": round(r.seconds, 2), "pause_s": r.pause, "text": r.text} for r in recordings},
        "errors": len(errors),
        "error_samples": errors[:5],
        "answers_posted": sum(p.posted_at is not None for p in first + second),
        "answers_stored": stored,
        "server_errors": server_errors[-2000:],
        "load_average_before": load_before,
        "load_average_after": load_after,
        "live_wall_s": round(live_wall, 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "method": (
            "piper recordings (16 kHz, digital silence around and in them) played into /ws/interviews/<id>/speech/ in "
            "100 ms frames at real-time pace, each sent once its 100 ms had passed, then silent frames until turn/send; "
            "the answer form is POSTed at once with the finals as text (source live_voice, ended_by, speaking and "
            "thinking seconds), then {\"type\":\"finish\"}; the first speech.sentence on the room socket is fetched at "
            "once. Local interviewer (INTERVIEW_LOCAL_STREAM_DELAY=0), local Whisper live transcription in the web "
            "process, piper on the tts cluster, speak_questions on. Times from the end of the last word. Finished "
            "answers one at a time, the first (warm-up) not counted; paused answers two candidates at once. Cut = "
            "turn/send before the second half began, or a posted answer without most of the second half's words."
        ),
    }


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ----- the model alone (in a Django process: python -m bench.voice_turns model ...) -----


def model_cases(recordings):
    """(recording, "end" or "pause", expected finished, the audio the model is given,
    the audio of the words said so far that Whisper would transcribe last)."""
    window = int(MODEL_WINDOW_SECONDS * SAMPLE_RATE) * 2
    tail = int(DECISION_TAIL_SECONDS * SAMPLE_RATE) * 2
    cases = []
    for r in recordings:
        if r.kind == "warmup":
            continue
        padded = r.pcm + _silence(DECISION_TAIL_SECONDS)
        end = int(r.speech_end * SAMPLE_RATE) * 2
        if r.kind == "paused":
            at = int(r.pause_start * SAMPLE_RATE) * 2
            resume = int(r.resume * SAMPLE_RATE) * 2
            cases.append((r, "pause", False, padded[: at + tail][-window:], [padded[:at]]))
            cases.append((r, "end", True, padded[: end + tail][-window:], [padded[:at], padded[resume:end]]))
        else:
            cases.append((r, "end", True, padded[: end + tail][-window:], [padded[:end]]))
    return cases


def model_figure(cache_dir, names=None, runs=5):
    """In a Django process: speech.turn_detector alone on the recordings (at the
    end of each answer: finished; at each pause: unfinished), CPU seconds per
    decision, the same decisions with the transcript's cues (speech.turn_policy,
    on Whisper's text of the words said so far), and Whisper's time per final."""
    from django.conf import settings

    from speech import turn_detector, turn_policy
    from speech.providers import local_stt

    threshold = settings.SPEECH_TURN_THRESHOLD
    assert DECISION_TAIL_SECONDS == turn_detector.TRAILING_SILENCE, "the bench must give the model what the server does"
    cases = model_cases(load_recordings(cache_dir, names))
    turn_detector.load()  # the first run is slower; a server warms it up at start
    cpu, wall, rows = [], [], []
    # The same audio recurs (a pause's first half at every pause length): each
    # distinct input is decided and transcribed once (`runs` times for the CPU).
    decided = {}  # audio -> probability
    transcripts = {}  # audio -> (text, seconds Whisper took, seconds of audio)
    for recording, at, expected, audio, said in cases:
        if audio not in decided:
            for _ in range(runs):
                c0, w0 = time.process_time(), time.perf_counter()
                decided[audio] = turn_detector.probability(audio)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
        texts = []
        for pcm in said:
            if pcm not in transcripts:
                w0 = time.perf_counter()
                text, _ = local_stt._words_and_text(local_stt.recognise(local_stt._floats(pcm), True))
                transcripts[pcm] = (text, time.perf_counter() - w0, len(pcm) / BYTES_PER_SECOND)
            texts.append(transcripts[pcm][0])
        text = " ".join(texts)
        p = decided[audio]
        cue = turn_policy.cue(text)
        rows.append(
            {
                "name": recording.name,
                "at": at,
                "expected_finished": expected,
                "probability": round(p, 3),
                "model_finished": p >= threshold,
                "transcript": text,
                "cue": cue,
                "with_cues_finished": turn_policy.is_finished(p, cue, threshold),
            }
        )

    def score(rows_, key):
        return {"n": len(rows_), "correct": sum(r[key] == r["expected_finished"] for r in rows_)}

    ends = [r for r in rows if r["at"] == "end"]
    pauses = [r for r in rows if r["at"] == "pause"]
    by_tail = _accuracy_by_tail(load_recordings(cache_dir, names), threshold, turn_detector.probability)
    finals = [(seconds, audio_s) for _, seconds, audio_s in transcripts.values()]
    return {
        "detector": "speech.turn_detector.probability",
        "threshold": threshold,
        "tail_s": DECISION_TAIL_SECONDS,
        "runs": runs,
        "decisions": len(cpu),
        "finished_at_end": score(ends, "model_finished"),
        "unfinished_at_pause": score(pauses, "model_finished"),
        "accuracy": round(score(rows, "model_finished")["correct"] / len(rows), 3) if rows else None,
        "with_cues": {
            **score(rows, "with_cues_finished"),
            "finished_at_end": score(ends, "with_cues_finished"),
            "unfinished_at_pause": score(pauses, "with_cues_finished"),
        },
        "cpu_ms": _ms_percentiles(cpu),
        "wall_ms": _ms_percentiles(wall),
        "by_tail": by_tail,
        # Whisper (tiny.en) on the last words, as the live transcriber's final: seconds per call.
        "whisper_final_ms": _ms_percentiles([s for s, _ in finals]),
        "whisper_audio_s": [round(a, 2) for _, a in finals],
        "settings": {
            name: getattr(settings, name, None)
            for name in (
                "SPEECH_TURN_FINISHED_PAUSE_MS",
                "SPEECH_TURN_THINKING_SECONDS",
                "SPEECH_TURN_UNSURE_SECONDS",
                "SPEECH_TURN_ASK_SECONDS",
                "SPEECH_TURN_THRESHOLD",
                "LOCAL_STT_ENDPOINT_MS",
                "SPEECH_UTTERANCE_END_MS",
            )
        },
        "cases": rows,
    }


TAILS = (0.1, 0.2, 0.3, 0.5, 0.8)  # seconds of silence after the last word given to the model


def _accuracy_by_tail(recordings, threshold, probability):
    """The model alone with more or less of the pause after the words: how
    many ends it calls finished and how many pauses unfinished, per tail."""
    window = int(MODEL_WINDOW_SECONDS * SAMPLE_RATE) * 2
    inputs = []  # (expected finished, end byte of the words, padded audio)
    for r in recordings:
        if r.kind == "warmup":
            continue
        padded = r.pcm + _silence(max(TAILS))
        inputs.append((True, int(r.speech_end * SAMPLE_RATE) * 2, padded))
        if r.kind == "paused":
            # Only the silence of the pause follows the first half.
            inputs.append((False, int(r.pause_start * SAMPLE_RATE) * 2, padded))
    out, seen = {}, {}
    for tail in TAILS:
        ends = pauses = ends_n = pauses_n = 0
        for expected, end, padded in inputs:
            audio = padded[: end + int(tail * SAMPLE_RATE) * 2][-window:]
            if audio not in seen:
                seen[audio] = probability(audio)
            finished = seen[audio] >= threshold
            if expected:
                ends_n += 1
                ends += finished
            else:
                pauses_n += 1
                pauses += not finished
        out[f"{tail:g}"] = {"finished_at_end": [ends, ends_n], "unfinished_at_pause": [pauses, pauses_n]}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    syn = sub.add_parser("synthesize")
    syn.add_argument("cache_dir")
    syn.add_argument("texts")
    mod = sub.add_parser("model")
    mod.add_argument("cache_dir")
    mod.add_argument("names")
    mod.add_argument("runs", type=int)
    parser.add_argument("--write", action="store_true", help="merge the figure into bench/results.json and RESULTS.md")
    parser.add_argument("--names", default="", help="comma-separated recording names (default: all)")
    args = parser.parse_args()
    if args.command in ("synthesize", "model"):
        import django

        django.setup()
        if args.command == "synthesize":
            print(json.dumps({"made": synthesize_missing(args.cache_dir, json.loads(args.texts))}))
        else:
            print(json.dumps(model_figure(args.cache_dir, json.loads(args.names), args.runs)))
        return
    from bench.speech_bench import _standalone_env

    names = [n for n in args.names.split(",") if n] or None
    if os.environ.get("REDIS_URL"):
        env = _standalone_env()
    else:
        # SQLite and the in-memory channel layer (one web process): DEBUG stays
        # on, LiveServer's default, since DEBUG=false refuses to start without Redis.
        env = {"LOG_LEVEL": "WARNING", "RATE_LIMITS_ENABLED": "false"}
    figure = voice_turns_figure(env, names=names)
    print(json.dumps(figure, indent=2), flush=True)
    if args.write:
        write(figure)


def write(figure):
    """figure into bench/results.json (the other figures kept) and RESULTS.md rewritten from it."""
    from bench.report import write_markdown

    path = ROOT / "bench" / "results.json"
    results = json.loads(path.read_text())
    results["figures"]["voice_turns"] = figure
    path.write_text(json.dumps(results, indent=2) + "\n")
    (ROOT / "bench" / "RESULTS.md").write_text(write_markdown(results))


if __name__ == "__main__":
    main()
