"""Speech figures for `make bench` (see ../shared/DESIGN.md, "Quality targets").

Three functions, each bounded in time, with traffic to 127.0.0.1 only, each
returning a JSON-serialisable dict for results["figures"][...]:

    relay_figure(env_base, streams=50, seconds=10)        # live transcription relay overhead
    stream_memory_figure(env_base, streams=500)           # RSS per open live transcription stream
    voice_turn_figure(env_base, turns=20)                 # answer -> first audio of the next question
    caps_figure(env_base, cap=5, processes=3, backlog_factor=10)   # a shared cap under a backlog

`env_base` is bench.run.server_env(static_root) (plus whatever the caller adds);
each function starts its own LiveServer on the PostgreSQL/Redis named by
DATABASE_URL/REDIS_URL in os.environ (as LiveServer always does). Latencies are
in milliseconds (keys ending in _ms); times in seconds (keys ending in _s).

Standalone, for debugging (starts its own collectstatic'd STATIC_ROOT):

    python -m bench.speech_bench relay --streams 5 --seconds 3
    python -m bench.speech_bench voice --turns 3
    python -m bench.speech_bench caps --cap 5 --processes 3
"""

import argparse
import array
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cpu import cpu_seconds  # noqa: E402
from tests.live_server import LiveServer  # noqa: E402

FRAME_BYTES = 3200  # 100 ms of 16 kHz 16-bit mono, what the page sends
FRAME_SECONDS = 0.1
FINAL_EVERY = 10  # the fake makes every 10th result final (1 s of audio)


# ----- helpers -----


def _ms_percentiles(values):
    """p50/p95/p99/max/mean of `values` (seconds), in milliseconds."""
    if not values:
        return {"n": 0}
    values = sorted(values)

    def pick(p):
        return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

    return {
        "n": len(values),
        "p50": round(pick(50) * 1000, 2),
        "p95": round(pick(95) * 1000, 2),
        "p99": round(pick(99) * 1000, 2),
        "max": round(values[-1] * 1000, 2),
        "mean": round(sum(values) / len(values) * 1000, 2),
    }


def _load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_used(before, after):
    return {k: round(after[k] - before[k], 2) for k in before if before[k] is not None and after.get(k) is not None}


def _make_sessions(server, count):
    # Imported here, not at the top: bench.run imports this module.
    from bench.run import make_sessions

    return make_sessions(server, count)


def _manage_shell(server, code):
    """Run `code` in `manage.py shell` against the server's database; its last stdout line, parsed as JSON."""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        env=server.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if out.returncode != 0:
        raise RuntimeError(f"manage.py shell failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _interviews_for(server, sessions):
    """One active interview (no turns yet) for each session's user; their ids, in order."""
    code = (
        "import json\n"
        "from django.contrib.auth import SESSION_KEY\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from interviews.models import Interview\n"
        f"keys = {json.dumps(sessions)}\n"
        "ids = []\n"
        "for key in keys:\n"
        "    user_id = SessionStore(session_key=key)[SESSION_KEY]\n"
        "    ids.append(str(Interview.objects.create(owner_id=user_id, job_role='Relay benchmark', question_count=3).id))\n"
        "print(json.dumps(ids))\n"
    )
    return _manage_shell(server, code)


def _wait_for_free_cap(server, name, timeout):
    """Wait (up to `timeout` s) until no slot of cap `name` is held; returns
    {"in_use_at_start", "in_use", "waited_s"} as the app's processes see the cap."""
    code = (
        "import json, time\n"
        "from lib.caps import get_cap\n"
        f"cap = get_cap({name!r}); start = time.monotonic(); first = cap.in_use(); n = first\n"
        f"while n and time.monotonic() - start < {float(timeout)}:\n"
        "    time.sleep(0.1); n = cap.in_use()\n"
        "print(json.dumps({'in_use_at_start': first, 'in_use': n, 'waited_s': round(time.monotonic() - start, 2)}))\n"
    )
    return _manage_shell(server, code)


def _tone_frame():
    """100 ms of a quiet 220 Hz tone as 16 kHz s16le PCM (the fake does not listen to it)."""
    samples = array.array("h", (int(3000 * math.sin(2 * math.pi * 220 * i / 16000)) for i in range(FRAME_BYTES // 2)))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


# ----- 1. live transcription relay -----

FAKE_DEEPGRAM_PROCESS = r"""
import json, sys
from tests.fakes.deepgram import FakeDeepgram
fake = FakeDeepgram()
fake.echo_sequence(int(sys.argv[1]), final_every=int(sys.argv[2]))
print(json.dumps({"url": fake.url, "api_key": fake.api_key}), flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
fake.close()
"""


class _FakeDeepgramProcess:
    """FakeDeepgram in a Python process of its own, so the benchmark's clients
    (100 sockets on one event loop) and the fake do not share a GIL: the time a
    message waits for the other's loop would otherwise land on both paths."""

    def __enter__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-c", FAKE_DEEPGRAM_PROCESS, str(FRAME_BYTES), str(FINAL_EVERY)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line:
            self.process.kill()
            raise RuntimeError("the fake Deepgram process did not start")
        info = json.loads(line)
        self.url, self.api_key = info["url"], info["api_key"]
        return self

    def __exit__(self, *exc):
        try:
            self.process.stdin.close()
            self.process.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(5)


class _Stream:
    def __init__(self, kind):
        self.kind = kind  # "relay" (through the app) or "direct" (to the fake)
        self.latencies = []  # seconds, frame sent -> its "seq N" result received
        self.send_lag = []  # seconds the bench sent each frame after its real-time schedule
        self.answered = set()
        self.frames_sent = 0
        self.errors = []
        self.ready = False
        self.closed = False

    @property
    def completed(self):
        return self.ready and self.closed and not self.errors and len(self.answered) == self.frames_sent > 0


def _seq_of(text):
    if text.startswith("seq "):
        try:
            return int(text[4:])
        except ValueError:
            return None
    return None


async def _drive(ws, stream, start_at, frames, frame, finish):
    """Send `frames` frames in real time from `start_at`, read results, then `finish`."""
    sent = {}

    async def reader():
        async for raw in ws:
            now = time.perf_counter()
            if isinstance(raw, bytes):
                continue
            message = json.loads(raw)
            if stream.kind == "relay":
                event = message.get("event")
                if event == "error":
                    stream.errors.append(message.get("message", "error"))
                    continue
                if event == "closed":
                    stream.closed = True
                    return
                text = message.get("text", "") if event in ("partial", "final") else ""
            else:
                if message.get("type") != "Results":
                    continue
                text = message["channel"]["alternatives"][0]["transcript"]
            n = _seq_of(text)
            if n is not None and n in sent and n not in stream.answered:
                stream.answered.add(n)
                stream.latencies.append(now - sent[n])
        if stream.kind == "direct":
            stream.closed = True  # the fake closes (1000) after CloseStream

    reading = asyncio.create_task(reader())
    try:
        for k in range(frames):
            due = start_at + k * FRAME_SECONDS
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if reading.done():
                break
            sent[k] = time.perf_counter()
            stream.send_lag.append(max(0.0, sent[k] - due))
            await ws.send(frame)
            stream.frames_sent += 1
        await ws.send(finish)
        await asyncio.wait_for(reading, 15)
    except Exception as exc:
        stream.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        if not reading.done():
            reading.cancel()
        await ws.close()


async def _relay_run(server, fake, sessions, interview_ids, seconds, pids):
    import websockets

    host = urlparse(server.url).netloc
    frame = _tone_frame()
    frames = int(round(seconds / FRAME_SECONDS))
    n = len(sessions)
    relay = [_Stream("relay") for _ in range(n)]
    direct = [_Stream("direct") for _ in range(n)]

    async def open_relay(i):
        try:
            ws = await websockets.connect(
                f"ws://{host}/ws/interviews/{interview_ids[i]}/speech/",
                additional_headers={"Cookie": f"sessionid={sessions[i]}", "Origin": server.url},
                open_timeout=30,
                max_size=2**22,
            )
            first = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if first.get("event") != "ready":
                relay[i].errors.append(f"not ready: {first}")
                await ws.close()
                return None
            relay[i].ready = True
            return ws
        except Exception as exc:
            relay[i].errors.append(f"connect: {type(exc).__name__}: {exc}")
            return None

    query = (
        "model=nova-3&encoding=linear16&sample_rate=16000&channels=1&interim_results=true"
        "&endpointing=500&utterance_end_ms=2000&vad_events=true&smart_format=true"
    )

    async def open_direct(i):
        try:
            ws = await websockets.connect(
                f"{fake.url}/v1/listen?{query}",
                additional_headers={"Authorization": f"Token {fake.api_key}"},
                open_timeout=30,
                max_size=2**22,
            )
            direct[i].ready = True
            return ws
        except Exception as exc:
            direct[i].errors.append(f"connect: {type(exc).__name__}: {exc}")
            return None

    opened_at = time.perf_counter()
    relay_ws = await asyncio.gather(*(open_relay(i) for i in range(n)))
    direct_ws = await asyncio.gather(*(open_direct(i) for i in range(n)))
    open_seconds = time.perf_counter() - opened_at
    cpu_before = {k: cpu_seconds(pid) for k, pid in pids.items()}
    streaming_from = time.perf_counter()
    # Both kinds at once, their frames spread evenly over each 100 ms period.
    start = time.perf_counter() + 0.5
    jobs = []
    for i in range(n):
        if relay_ws[i] is not None:
            at = start + (2 * i) / (2 * n) * FRAME_SECONDS
            jobs.append(_drive(relay_ws[i], relay[i], at, frames, frame, '{"type":"finish"}'))
        if direct_ws[i] is not None:
            at = start + (2 * i + 1) / (2 * n) * FRAME_SECONDS
            jobs.append(_drive(direct_ws[i], direct[i], at, frames, frame, '{"type":"CloseStream"}'))
    await asyncio.gather(*jobs)
    cpu = _cpu_used(cpu_before, {k: cpu_seconds(pid) for k, pid in pids.items()})
    cpu["wall"] = round(time.perf_counter() - streaming_from, 2)
    return relay, direct, frames, open_seconds, cpu


def relay_figure(env_base: dict, streams: int = 50, seconds: float = 10) -> dict:
    """Live transcription relay: per 100 ms frame, the time from sending it to the
    result it caused arriving back, through the app's speech socket (daphne ->
    deepgram-sdk -> fake Deepgram and back) and directly to the same fake, at
    the same time, `streams` of each, in real time for `seconds`."""
    started = time.perf_counter()
    with _FakeDeepgramProcess() as fake:
        env = {
            **env_base,
            "INTERVIEW_LLM": "local",  # no model is involved in this figure
            "SPEECH_LIVE_STT": "deepgram",
            # No silent fallback to the local engine (and no loading of it).
            "SPEECH_LIVE_FALLBACK": "none",
            "DEEPGRAM_URL": fake.url,
            "DEEPGRAM_API_KEY": fake.api_key,
            "CAP_DEEPGRAM": str(max(int(env_base.get("CAP_DEEPGRAM", 0) or 0), streams)),
            "RATE_LIMITS_ENABLED": "false",
        }
        with LiveServer(env=env, clusters=()) as server:
            sessions = _make_sessions(server, streams)
            interview_ids = _interviews_for(server, sessions)
            # Slots are shared by every copy of the app on this Redis/database: a
            # previous run's streams cut off by its server stopping hold theirs
            # until their lease runs out.
            lease = float(server.env.get("CAP_LEASE_SECONDS") or 30)
            before = _wait_for_free_cap(server, "deepgram", lease + 2)
            marks = server.log_marks()
            load_before = _load_average()
            pids = {"web": server.processes["web"].pid, "fake": fake.process.pid, "bench": os.getpid()}
            relay, direct, frames, open_seconds, cpu = asyncio.run(
                _relay_run(server, fake, sessions, interview_ids, seconds, pids)
            )
            # Every stream has ended: its slot must be free again (give the app 5 s).
            after = _wait_for_free_cap(server, "deepgram", 5)
            server_errors = server.errors_since(marks)
            server.check_alive()
    relay_lat = [x for s in relay for x in s.latencies]
    direct_lat = [x for s in direct for x in s.latencies]
    relay_p, direct_p = _ms_percentiles(relay_lat), _ms_percentiles(direct_lat)
    added = {}
    if relay_p.get("n") and direct_p.get("n"):
        added = {p: round(relay_p[p] - direct_p[p], 2) for p in ("p50", "p95", "p99", "mean")}
    relay_errors = [e for s in relay for e in s.errors]
    return {
        "streams": streams,
        "seconds": seconds,
        "frames_per_stream": frames,
        "frame_ms": FRAME_SECONDS * 1000,
        "added_ms": added,  # relay minus direct, percentile by percentile
        "relay_ms": relay_p,
        "direct_ms": direct_p,
        "target_added_p95_ms": 10,
        "streams_completed": sum(s.completed for s in relay),
        "direct_streams_completed": sum(s.completed for s in direct),
        "errors": len(relay_errors),
        "error_samples": relay_errors[:5],
        "direct_errors": sum(len(s.errors) for s in direct),
        "frames_sent": sum(s.frames_sent for s in relay),
        "frames_unanswered": sum(s.frames_sent - len(s.answered) for s in relay),
        "direct_frames_unanswered": sum(s.frames_sent - len(s.answered) for s in direct),
        "bench_send_lag_ms": _ms_percentiles([x for s in relay + direct for x in s.send_lag]),
        "open_all_sockets_s": round(open_seconds, 2),
        "cap_slots_held_before": before["in_use_at_start"],
        "cap_slots_held_after": after["in_use_at_start"],
        "cap_slots_freed_within_s": after["waited_s"] if not after["in_use"] else None,
        # CPU seconds each process used while streaming ("wall": that window's length):
        # about 1 s per wall second means that process was saturated.
        "cpu_s": cpu,
        "server_errors": server_errors[-2000:],
        "load_average_before": load_before,
        "load_average_after": _load_average(),
        "wall_s": round(time.perf_counter() - started, 1),
        "method": (
            "A fake Deepgram (own process) answers every 3200 audio bytes with a Results "
            "'seq N' (every 10th final). Relay: bench -> /ws/interviews/<id>/speech/ (daphne, "
            "deepgram-sdk) -> fake -> back as partial/final. Direct: bench -> fake with the same "
            "protocol. Both run at once, frames every 100 ms in real time, spread over the period. "
            "added_ms = relay percentile minus direct percentile."
        ),
    }


def _rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


async def _hold_streams(server, sessions, interview_ids, pid, batch=50):
    """Open a live stream per interview, send each one frame and wait for its
    transcript, measure the web process's RSS with all of them open, close them."""
    import websockets

    host = urlparse(server.url).netloc
    frame = _tone_frame()
    sockets, errors = [], []

    async def open_one(i):
        try:
            ws = await websockets.connect(
                f"ws://{host}/ws/interviews/{interview_ids[i]}/speech/",
                additional_headers={"Cookie": f"sessionid={sessions[i]}", "Origin": server.url},
                open_timeout=60,
                max_size=2**22,
            )
            first = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if first.get("event") != "ready":
                raise RuntimeError(f"not ready: {first}")
            await ws.send(frame)
            while True:  # the transcript of that frame: the stream is live end to end
                message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if message.get("event") in ("partial", "final"):
                    break
                if message.get("event") == "error":
                    raise RuntimeError(message.get("message"))
            sockets.append(ws)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    # The first stream imports the provider's SDK and fills caches: not a per-stream cost.
    await open_one(0)
    await asyncio.sleep(1)
    before, first = _rss_mb(pid), len(sockets)
    # In batches: the figure is memory held, not how fast 500 handshakes go.
    for start in range(1, len(sessions), batch):
        await asyncio.gather(*(open_one(i) for i in range(start, min(start + batch, len(sessions)))))
    await asyncio.sleep(2)
    during = _rss_mb(pid)
    for ws in sockets:
        await ws.send('{"type":"finish"}')
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return before, during, len(sockets), len(sockets) - first, errors


def stream_memory_figure(env_base: dict, streams: int = 500) -> dict:
    """RSS of one web process with `streams` live transcription streams open
    (each relayed to a fake Deepgram, each having transcribed one frame)."""
    with _FakeDeepgramProcess() as fake:
        env = {
            **env_base,
            "INTERVIEW_LLM": "local",
            "SPEECH_LIVE_STT": "deepgram",
            "SPEECH_LIVE_FALLBACK": "none",
            "DEEPGRAM_URL": fake.url,
            "DEEPGRAM_API_KEY": fake.api_key,
            "CAP_DEEPGRAM": str(streams),
            "RATE_LIMITS_ENABLED": "false",
            # The streams are held open without audio while they are counted.
            "SPEECH_STREAM_IDLE_SECONDS": "600",
        }
        with LiveServer(env=env, clusters=()) as server:
            sessions = _make_sessions(server, streams)
            interview_ids = _interviews_for(server, sessions)
            lease = float(server.env.get("CAP_LEASE_SECONDS") or 30)
            _wait_for_free_cap(server, "deepgram", lease + 2)
            before, during, opened, measured, errors = asyncio.run(
                _hold_streams(server, sessions, interview_ids, server.processes["web"].pid)
            )
            after = _wait_for_free_cap(server, "deepgram", 10)
            server.check_alive()
    return {
        "streams": streams,
        "opened": opened,
        "errors": len(errors),
        "error_samples": errors[:5],
        "rss_before_mb": round(before, 1),
        "rss_with_streams_mb": round(during, 1),
        "kb_per_stream": round((during - before) * 1024 / measured, 1) if measured else None,
        "cap_slots_held_after": after["in_use"],
    }


# ----- 2. voice turn with the local engines -----


async def _fetch_first_byte(http, url):
    """(seconds to the first body byte, total bytes, status) for GET url."""
    started = time.perf_counter()
    first = None
    size = 0
    async with http.stream("GET", url) as response:
        async for chunk in response.aiter_raw():
            if chunk and first is None:
                first = time.perf_counter() - started
            size += len(chunk)
        status = response.status_code
    return first, size, status


async def _voice_interview(server, session, measured_turns, warmup_turns, question_count, results, answers):
    import httpx
    import websockets

    base = server.url
    host = urlparse(base).netloc
    async with httpx.AsyncClient(base_url=base, cookies={"sessionid": session}, timeout=60) as http:
        (await http.get("/interviews/new/")).raise_for_status()
        csrf = http.cookies.get("csrftoken")
        interview_id = await new_voice_interview(http, base, csrf, question_count)
        ws_headers = {"Cookie": f"sessionid={session}", "Origin": base}
        async with websockets.connect(
            f"ws://{host}/ws/interviews/{interview_id}/", additional_headers=ws_headers, max_size=2**22, open_timeout=30
        ) as ws:
            # The socket starts the (spoken) introduction; fetch its audio as the page would.
            turn_index, finished, audio_urls = await _await_turn(ws, None)
            await asyncio.gather(*(_fetch_first_byte(http, u) for u in audio_urls))
            done = 0
            while not finished and len(results) < measured_turns:
                answer = answers[done % len(answers)]
                posted_at = time.perf_counter()
                post = asyncio.create_task(
                    http.post(
                        f"/interviews/{interview_id}/answer/",
                        data={
                            "answer": answer,
                            "after_index": turn_index,
                            "source": "live_voice",
                            "speaking_seconds": "30",
                            "csrfmiddlewaretoken": csrf,
                        },
                        headers={"HX-Request": "true", "X-CSRFToken": csrf},
                    )
                )
                turn_index, finished, audio_urls, first_audio = await _await_turn(ws, http, posted_at)
                response = await post
                if response.status_code != 200 or "error-box" in response.text:
                    raise RuntimeError(f"answer refused: {response.status_code} {response.text[:200]}")
                # The rest of the question's sentences, as the page plays them: the
                # worker is idle again before the next answer, as after a real question.
                await asyncio.gather(*(_fetch_first_byte(http, u) for u in audio_urls[1:]))
                done += 1
                if first_audio is None:
                    raise RuntimeError("no speech.sentence for the interviewer's turn")
                first_audio["interview_id"] = interview_id
                first_audio["turn_index"] = turn_index
                first_audio["warmup"] = done <= warmup_turns
                results.append(first_audio)
    return interview_id


async def _await_turn(ws, http, posted_at=None):
    """Read the interview socket until turn.done. With `http`, fetch the first
    sentence's audio the moment its speech.sentence arrives, timing it from
    `posted_at`. Returns (turn index, interview finished, audio urls[, timing])."""
    urls = []
    fetch = None
    sentence_at = None
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 120))
        event = message.get("event")
        if event == "speech.sentence":
            urls.append(message["url"])
            if http is not None and fetch is None:
                sentence_at = time.perf_counter()
                fetch = asyncio.create_task(_fetch_first_byte(http, message["url"]))
        elif event == "turn.failed":
            raise RuntimeError(f"turn failed: {message.get('message')}")
        elif event == "turn.done":
            finished = "This interview has ended" in message.get("answer_area", "")
            if http is None:
                return message["turn_index"], finished, urls
            timing = None
            if fetch is not None:
                first_byte, size, status = await fetch
                if status != 200 or first_byte is None:
                    raise RuntimeError(f"sentence audio answered {status}")
                timing = {
                    "first_audio_s": sentence_at + first_byte - posted_at,
                    "sentence_event_s": sentence_at - posted_at,
                    "audio_first_byte_s": first_byte,
                    "audio_bytes": size,
                    "url": urls[0],
                }
            return message["turn_index"], finished, urls, timing
        elif event == "interview.completed":
            continue


def _task_details(server, task_ids):
    """For each TTS task id: whether it came from the cache, how long it waited for
    a worker (created -> started) and how long the worker took (started -> finished)."""
    code = (
        "import json\n"
        "from speech.models import SpeechTask\n"
        f"ids = {json.dumps(task_ids)}\n"
        "out = {}\n"
        "for t in SpeechTask.objects.filter(pk__in=ids):\n"
        "    r = t.result or {}\n"
        "    ms = lambda a, b: round((b - a).total_seconds() * 1000, 1) if a and b else None\n"
        "    out[str(t.pk)] = {'cached': bool(r.get('cached')), 'chars': len(r.get('text', '')),\n"
        "                      'queue_ms': ms(t.created_at, t.started_at), 'worker_ms': ms(t.started_at, t.finished_at)}\n"
        "print(json.dumps(out))\n"
    )
    return _manage_shell(server, code)


def voice_turn_figure(env_base: dict, turns: int = 20) -> dict:
    """Voice turn with the local engines: the time from the answer POST (the
    candidate's live transcript just finalised) to the first byte of the audio of
    the interviewer's next turn's first sentence (its speech.sentence event on
    the interview socket, then GET of its url, which waits for the `tts` worker)."""
    from bench.client import ANSWERS

    started = time.perf_counter()
    env = {
        **env_base,
        "INTERVIEW_LLM": "local",
        "INTERVIEW_LOCAL_STREAM_DELAY": "0",
        "SPEECH_TTS": "local",
        "RATE_LIMITS_ENABLED": "false",
    }
    warmup_turns = 1
    results = []
    errors = []
    interviews = 0
    with LiveServer(env=env, clusters=LiveServer.ALL_CLUSTERS) as server:
        session = _make_sessions(server, 1)[0]
        marks = server.log_marks()
        load_before = _load_average()
        deadline = time.monotonic() + max(120, 15 * turns)
        while len(results) < turns + warmup_turns and time.monotonic() < deadline and interviews < turns + 2:
            interviews += 1
            before = len(results)
            try:
                asyncio.run(
                    asyncio.wait_for(
                        _voice_interview(
                            server, session, turns + warmup_turns, warmup_turns if interviews == 1 else 0, 20, results, ANSWERS
                        ),
                        max(30, deadline - time.monotonic()),
                    )
                )
            except Exception as exc:  # recorded, not raised: the figure counts errors
                errors.append(f"{type(exc).__name__}: {exc}")
                break
            if len(results) == before:
                break
        task_ids = [r["url"].rstrip("/").split("/")[-2] for r in results]
        details = _task_details(server, task_ids) if task_ids else {}
        server_errors = server.errors_since(marks)
        server.check_alive()
    measured = [r for r in results if not r["warmup"]]
    for r in measured:
        r.update(details.get(r["url"].rstrip("/").split("/")[-2], {}))
    uncached = [r for r in measured if not r.get("cached")]

    def ms(key, rows):
        values = [r[key] / 1000 for r in rows if r.get(key) is not None]
        return _ms_percentiles(values)

    return {
        "turns": len(measured),
        "interviews": interviews,
        "first_audio_ms": _ms_percentiles([r["first_audio_s"] for r in measured]),
        "first_audio_uncached_ms": _ms_percentiles([r["first_audio_s"] for r in uncached]),
        "sentence_event_ms": _ms_percentiles([r["sentence_event_s"] for r in measured]),
        "audio_first_byte_ms": _ms_percentiles([r["audio_first_byte_s"] for r in measured]),
        "tts_queue_wait_ms": ms("queue_ms", uncached),  # task created -> a tts worker started it
        "tts_worker_ms": ms("worker_ms", uncached),  # started -> audio written (piper)
        "first_sentence_chars": sorted(r["chars"] for r in measured if r.get("chars")),
        "cached_first_sentences": len(measured) - len(uncached),
        "warmup_first_audio_ms": [round(r["first_audio_s"] * 1000, 1) for r in results if r["warmup"]],
        "target_p95_ms": 1500,
        "errors": len(errors),
        "error_samples": errors[:5],
        "server_errors": server_errors[-2000:],
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": _load_average(),
        "wall_s": round(time.perf_counter() - started, 1),
        "method": (
            "One candidate, local interviewer (INTERVIEW_LOCAL_STREAM_DELAY=0) and local piper TTS on the "
            "`tts` cluster, speak_questions on. Per turn: answer POST (source live_voice) -> first "
            "speech.sentence on the interview socket -> GET its url (waits for the worker) -> first byte. "
            "The first answered turn warms up and is not counted; all of a question's audio is fetched "
            "before the next answer. cached = the first sentence came from the TTS cache."
        ),
    }


# ----- 3. concurrency caps under a backlog -----


def caps_figure(env_base: dict, cap: int = 5, processes: int = 3, backlog_factor: int = 10, backend: str = "auto") -> dict:
    """`processes` worker processes share one cap of `cap` slots (backend "auto":
    Redis when REDIS_URL is set, else the database; or "redis", "database") and start cap × backlog_factor jobs
    between them at once, each calling a fake provider that takes 0.2 s and
    records how many calls it serves at once."""
    from tests.fakes.concurrency import CAP_WORKER, ConcurrencyRecorder

    call_seconds = 0.2
    jobs = cap * backlog_factor
    per_process = [jobs // processes + (1 if i < jobs % processes else 0) for i in range(processes)]
    name = f"bench-{uuid.uuid4().hex[:10]}"
    started = time.perf_counter()
    # LiveServer for a fresh, migrated database (and an isolated Redis URL); no worker clusters.
    env = {**env_base, "INTERVIEW_LLM": "local"}  # no model is involved in this figure
    if not (env_base.get("REDIS_URL") or os.environ.get("REDIS_URL")):
        # Without Redis, DEBUG=false refuses to start (the in-memory channel layer
        # is single-process); the caps only need the database, so allow it here.
        env["DEBUG"] = "true"
    with LiveServer(env=env, clusters=()) as server, ConcurrencyRecorder(seconds=call_seconds) as provider:
        redis_url = server.env.get("REDIS_URL", "")
        kind = ("redis" if redis_url else "database") if backend == "auto" else backend
        if kind == "redis" and not redis_url:
            raise ValueError("caps_figure(backend='redis') needs REDIS_URL")
        lease = server.env.get("CAP_LEASE_SECONDS", "30")
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", CAP_WORKER, kind, name, str(cap), lease, redis_url, provider.url, str(count), "--wait-go"],
                cwd=ROOT,
                env=server.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for count in per_process
        ]
        try:
            for w in workers:
                line = w.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(f"cap worker did not start: {line} {w.stdout.read()[-2000:]}")
            go = time.monotonic()
            for w in workers:
                w.stdin.write("go\n")
                w.stdin.flush()
            outputs = [w.communicate(timeout=120)[0] for w in workers]
            finished = time.monotonic()
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
                    w.wait(5)
        span = provider.span()
        busy = provider.busy_seconds()
        served, max_seen = provider.served, provider.max_concurrent
    ideal = math.ceil(jobs / cap) * call_seconds
    provider_wall = (span[1] - span[0]) if span else 0.0
    from_go = (span[1] - go) if span else 0.0
    return {
        "backend": kind,
        "cap": cap,
        "processes": processes,
        "jobs": jobs,
        "jobs_per_process": per_process,
        "call_s": call_seconds,
        "served": served,
        "max_concurrency_seen": max_seen,
        "cap_held": max_seen <= cap,
        "utilisation": round(busy / (cap * provider_wall), 3) if provider_wall else 0.0,
        "utilisation_from_go": round(busy / (cap * from_go), 3) if from_go else 0.0,
        "busy_s": round(busy, 3),
        "provider_wall_s": round(provider_wall, 3),
        "first_call_after_go_s": round(span[0] - go, 3) if span else None,
        "go_to_last_call_end_s": round(from_go, 3),
        "go_to_processes_exited_s": round(finished - go, 3),
        "ideal_wall_s": round(ideal, 3),
        "wall_over_ideal": round(provider_wall / ideal, 3) if ideal else None,
        "worker_failures": [o.strip()[-300:] for o, w in zip(outputs, workers) if w.returncode != 0],
        "target_utilisation": 0.9,
        "load_average": _load_average(),
        "total_s": round(time.perf_counter() - started, 1),
        "method": (
            f"{processes} processes each start their share of {jobs} jobs at once (threads, after a common "
            f"'go'); each job takes a slot (lib.caps.Cap, {kind} backend, limit {cap}) and calls a fake "
            f"provider that takes {call_seconds} s and records concurrency. utilisation = provider busy time / "
            "(cap x time from the first call's start to the last call's end); utilisation_from_go counts from the "
            "common 'go' instead (threads starting, first slots taken); ideal = ceil(jobs/cap) x call time."
        ),
    }


# ----- standalone -----


def _standalone_env():
    from bench.run import server_env

    static_root = tempfile.mkdtemp(prefix="bench-static-")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "STATIC_ROOT": static_root, "DEBUG": "false", "SECRET_KEY": "x" * 50},
    )
    return server_env(static_root)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("figure", choices=["relay", "voice", "caps", "all"])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--cap", type=int, default=5)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--backlog-factor", type=int, default=10)
    parser.add_argument("--backend", choices=["auto", "redis", "database"], default="auto")
    args = parser.parse_args()
    env = _standalone_env()
    figures = {}
    if args.figure in ("relay", "all"):
        figures["relay"] = relay_figure(env, streams=args.streams, seconds=args.seconds)
        print(json.dumps({"relay": figures["relay"]}, indent=2), flush=True)
    if args.figure in ("voice", "all"):
        figures["voice_turn"] = voice_turn_figure(env, turns=args.turns)
        print(json.dumps({"voice_turn": figures["voice_turn"]}, indent=2), flush=True)
    if args.figure in ("caps", "all"):
        figures["caps"] = caps_figure(env, cap=args.cap, processes=args.processes, backlog_factor=args.backlog_factor, backend=args.backend)
        print(json.dumps({"caps": figures["caps"]}, indent=2), flush=True)


async def new_voice_interview(http, base, csrf, questions):
    """A practice interview with the interviewer's voice on; its id."""
    headers = {"X-CSRFToken": csrf, "Referer": base + "/interviews/new/"}
    created = await http.post(
        "/interviews/new/",
        data={
            "csrfmiddlewaretoken": csrf,
            "job_role": "Backend Engineer",
            "company": "Benchmark Ltd",
            "job_description": "Python, Kubernetes, PostgreSQL, CI/CD, incident response",
            "style": "formal",
            "difficulty": "medium",
            "length_mode": "questions",
            "question_count": str(questions),
            "mode": "practice",
        },
        headers=headers,
    )
    if created.status_code != 302:
        raise RuntimeError(f"create failed: {created.status_code}")
    interview_id = created.headers["location"].rstrip("/").split("/")[-1]
    voice = await http.post(
        f"/interviews/{interview_id}/voice/",
        data={"speak_questions": "on", "speech_speed": "1.0", "csrfmiddlewaretoken": csrf},
        headers=headers,
    )
    if voice.status_code != 204:
        raise RuntimeError(f"voice settings refused: {voice.status_code}")
    return interview_id


if __name__ == "__main__":
    main()
