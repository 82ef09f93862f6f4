"""`make bench`: measure the quality targets of ../shared/DESIGN.md.

Runs the real app (daphne + django-q2, on the PostgreSQL and Redis that
scripts/test-with-services.sh started) against a fake Gemini server with a
fixed, known latency, drives it with simulated candidates (bench/client.py)
and writes bench/RESULTS.md and bench/results.json.

    python -m bench.run                 # every figure
    python -m bench.run --quick         # small loads, for a smoke run
    python -m bench.run --only turns    # some figures: turns, prototype, relay, voice, voice_turns, caps, streams, memory
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.client import Candidate  # noqa: E402
from bench.cpu import WebCpu, per_answer  # noqa: E402
from tests.fakes.gemini import Reply  # noqa: E402
from tests.live_server import LiveServer  # noqa: E402

MODEL_LATENCY = 0.3  # seconds the fake model takes to answer every call
LOAD_PROCESSES = 2  # processes driving the simulated candidates
WEB_PROCESSES = 2  # daphne processes on one socket, one per core (as `runall` with WEB_PROCESSES=2)
# The turn-overhead figure: candidates take 20-40 s to answer (a short spoken
# answer; real ones take longer), arrive at 20 a second, and answer 5 questions,
# so every interview is open at once for most of the run.
THINK_SECONDS = (20.0, 40.0)
ARRIVALS_PER_SECOND = 20
TURN_QUESTIONS = 5


def percentiles(values):
    if not values:
        return {"n": 0}
    values = sorted(values)

    def pick(p):
        return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

    return {
        "n": len(values),
        "p50": round(pick(50), 4),
        "p95": round(pick(95), 4),
        "p99": round(pick(99), 4),
        "max": round(values[-1], 4),
        "mean": round(statistics.fmean(values), 4),
    }


def interviewer_reply(req):
    """Streaming calls are interviewer turns; unary calls are the coach or the report."""
    if req.stream:
        text = (
            "ACTION: new_question\nTOPICS: delivery\nWHY: move on\n---\n"
            "Thanks, that is clear. Tell me about a time you improved a system under pressure, "
            "what you did yourself and what changed as a result?"
        )
        return Reply(text=text, latency=MODEL_LATENCY, usage=(400, 40))
    prompt = (req.prompt or "") + (req.system or "")
    if "patterns" in prompt.lower() and "focus" in prompt.lower():
        body = {
            "patterns": "Consistent structure; outcomes sometimes missing.",
            "strengths": ["Clear ownership"],
            "focus_areas": [{"area": "Outcomes", "why": "Numbers were rare.", "next_steps": ["Quantify results"]}],
        }
    else:
        quote = "deploys dropped to ten minutes"
        dims = ["relevance", "structure", "specificity", "communication", "role_fit"]
        body = {
            "scores": {d: {"score": 4, "evidence": quote, "note": "fake"} for d in dims},
            "strengths": ["Specific result"],
            "improvements": ["Say more about your own role"],
            "text": "A solid answer with a measurable result.",
        }
    return Reply(json=body, latency=MODEL_LATENCY, usage=(500, 120))


def make_sessions(server, count):
    """Users and logged-in sessions created directly in the server's database
    (signing up hundreds of users through the form would hit its rate limit)."""
    code = (
        "import json,sys\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY\n"
        "User = get_user_model(); keys = []\n"
        f"for i in range({count}):\n"
        "    u = User.objects.create_user(f'bench{i}-{__import__(\"uuid\").uuid4().hex[:6]}', f'bench{i}@example.com', None)\n"
        "    s = SessionStore(); s[SESSION_KEY] = str(u.pk)\n"
        "    s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
        "    s[HASH_SESSION_KEY] = u.get_session_auth_hash(); s.create(); keys.append(s.session_key)\n"
        "print(json.dumps(keys))\n"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], env=server.env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


async def run_candidates(server, sessions, think_time, questions, stagger):
    return await _candidates(server.url, sessions, think_time, questions, stagger)


async def _candidates(url, sessions, think_time, questions, stagger):
    candidates = [
        Candidate(url, key, f"CANDIDATE-{uuid.uuid4().hex[:8]}", think_time=think_time, questions=questions)
        for key in sessions
    ]
    # Time enough for the slowest candidate's thinking, plus two minutes of turns.
    longest_think = max(think_time) if isinstance(think_time, tuple) else think_time
    timeout = 120 + (questions + 1) * longest_think + len(sessions) * stagger
    tasks = []
    for c in candidates:
        tasks.append(asyncio.create_task(c.run(timeout=timeout)))
        if stagger:
            await asyncio.sleep(stagger)
    return await asyncio.gather(*tasks)


def _candidates_in_process(args):
    url, sessions, think_time, questions, stagger = args
    return asyncio.run(_candidates(url, sessions, think_time, questions, stagger))


def run_candidates_spread(server, sessions, think_time, questions, stagger, processes=LOAD_PROCESSES):
    """The candidates split over several processes: one Python process cannot
    drive hundreds of WebSocket clients without becoming the bottleneck itself."""
    import multiprocessing

    processes = max(1, min(processes, len(sessions)))
    shares = [sessions[i::processes] for i in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_candidates_in_process, [(server.url, share, think_time, questions, stagger * processes) for share in shares])
    return [r for part in parts for r in part]


def summarise(results, model_seconds, cpu=None):
    """The turn figures of one run; with `cpu` (a bench.cpu.WebCpu around it),
    the web processes' CPU per answer POST as well."""
    turn_times = [t.done - t.submitted for r in results for t in r.turns if t.done]
    overhead = [x - model_seconds for x in turn_times]
    ttft = [t.first_token - t.submitted - model_seconds for r in results for t in r.turns if t.first_token]
    post = [t.posted - t.submitted for r in results for t in r.turns if t.posted]
    return {
        "candidates": len(results),
        "completed": sum(r.completed for r in results),
        "turns": len(turn_times),
        "errors": sum(len(r.errors) for r in results),
        "error_samples": [e for r in results for e in r.errors][:5],
        "leaks": sum(len(r.leaks) for r in results),
        "turn_seconds": percentiles(turn_times),
        "overhead_seconds": percentiles(overhead),
        "first_token_after_model_seconds": percentiles(ttft),
        "answer_post_seconds": percentiles(post),
        **(per_answer(cpu, len(post)) if cpu is not None else {}),
    }


def process_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None


async def memory_per_socket(server, sessions, count):
    import websockets

    web_pid = server.processes["web"].pid
    before = process_rss_mb(web_pid)
    sockets = []
    host = server.url.replace("http://", "")
    # One interview, many sockets: what an open socket costs the web process.
    import httpx

    async with httpx.AsyncClient(base_url=server.url, cookies={"sessionid": sessions[0]}) as http:
        await http.get("/interviews/new/")
        csrf = http.cookies.get("csrftoken")
        created = await http.post(
            "/interviews/new/",
            data={"csrfmiddlewaretoken": csrf, "job_role": "Memory probe", "style": "formal", "difficulty": "medium",
                  "length_mode": "questions", "question_count": "3", "mode": "practice"},
        )
        interview_id = created.headers["location"].rstrip("/").split("/")[-1]
    headers = {"Cookie": f"sessionid={sessions[0]}", "Origin": server.url}
    for _ in range(count):
        ws = await websockets.connect(f"ws://{host}/ws/interviews/{interview_id}/", additional_headers=headers)
        await ws.recv()
        sockets.append(ws)
    await asyncio.sleep(1)
    after = process_rss_mb(web_pid)
    for ws in sockets:
        await ws.close()
    return {"sockets": count, "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1),
            "kb_per_socket": round((after - before) * 1024 / count, 1)}


def web_server(env, web_processes=WEB_PROCESSES):
    """The app as deployed on this machine: web processes with the PostgreSQL pool, as the Procfile and runall run them."""
    return LiveServer(env=env, web_processes=web_processes, web_env={"DB_POOL": "true"})


def raise_file_limit():
    """Hundreds of candidates hold two sockets each: allow as many files as the system does."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def server_env(static_root):
    return {
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "STATIC_ROOT": static_root,
        "LOG_LEVEL": "WARNING",
        "RATE_LIMITS_ENABLED": "false",
        "SECURE_COOKIES": "false",  # plain HTTP on loopback
        "SECURE_SSL_REDIRECT": "false",
        "INTERVIEW_LLM": "google_genai:gemini-2.5-flash",
        "INTERVIEW_LLM_RETRIES": "1",
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--loads", default="")
    args = parser.parse_args()
    raise_file_limit()
    only = set(filter(None, args.only.split(",")))
    loads = [int(x) for x in args.loads.split(",") if x] or ([10, 50] if args.quick else [50, 200, 500, 1000])
    results = {"machine": machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit(),
               "model_latency_seconds": MODEL_LATENCY, "figures": {}}
    static_root = tempfile.mkdtemp(prefix="bench-static-")
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, check=True,
                   env={**os.environ, "STATIC_ROOT": static_root, "DEBUG": "false", "SECRET_KEY": "x" * 50})
    from bench.fake_model import FakeModelProcess

    with FakeModelProcess() as fake:
        env = server_env(static_root) | {"INTERVIEW_LLM_BASE_URL": fake.url, "GOOGLE_API_KEY": fake.api_key}
        if not only or "prototype" in only:
            figure = {}
            for n in ([10] if args.quick else [10, 50]):
                with web_server(env) as server:
                    sessions = make_sessions(server, n)
                    with WebCpu(server) as cpu:
                        outcome = run_candidates_spread(server, sessions, think_time=0, questions=5, stagger=0)
                    figure[str(n)] = summarise(outcome, MODEL_LATENCY, cpu)
                    print(f"prototype profile N={n}: {figure[str(n)]['turn_seconds']}", flush=True)
            results["figures"]["prototype_profile"] = figure
        if not only or "turns" in only:
            figure = {}
            for n in loads:
                with web_server(env) as server:
                    sessions = make_sessions(server, n)
                    with WebCpu(server) as cpu:
                        outcome = run_candidates_spread(
                            server, sessions, think_time=THINK_SECONDS, questions=TURN_QUESTIONS, stagger=1 / ARRIVALS_PER_SECOND
                        )
                    figure[str(n)] = summarise(outcome, MODEL_LATENCY, cpu)
                    print(
                        f"turns N={n}: overhead {figure[str(n)]['overhead_seconds']} errors {figure[str(n)]['errors']} "
                        f"web CPU {figure[str(n)]['web_cpu_ms_per_answer']} ms/answer",
                        flush=True,
                    )
            results["figures"]["turn_overhead"] = figure
            results["turn_load"] = {"think_seconds": THINK_SECONDS, "arrivals_per_second": ARRIVALS_PER_SECOND,
                                    "questions": TURN_QUESTIONS, "web_processes": WEB_PROCESSES}
        if not only or "relay" in only:
            from bench.speech_bench import relay_figure

            results["figures"]["relay"] = relay_figure(env, streams=10 if args.quick else 50, seconds=5 if args.quick else 10)
            print(f"relay: {results['figures']['relay'].get('added_ms')}", flush=True)
        if not only or "voice" in only:
            from bench.speech_bench import voice_turn_figure

            results["figures"]["voice_turn"] = voice_turn_figure(env, turns=5 if args.quick else 20)
            print(f"voice turn: {results['figures']['voice_turn'].get('first_audio_ms')}", flush=True)
        if not only or "voice_turns" in only:
            from bench.voice_turns import voice_turns_figure

            vt = results["figures"]["voice_turns"] = voice_turns_figure(env, model_runs=2 if args.quick else 3)
            print(f"voice turn-taking: first audio {vt['finished'].get('first_audio_ms')} cut {vt['paused']}", flush=True)
        if not only or "caps" in only:
            from bench.speech_bench import caps_figure

            results["figures"]["caps"] = caps_figure(env)
            print(f"caps: max {results['figures']['caps'].get('max_concurrency_seen')} util {results['figures']['caps'].get('utilisation')}", flush=True)
        if not only or "streams" in only:
            from bench.speech_bench import stream_memory_figure

            results["figures"]["stream_memory"] = stream_memory_figure(env, streams=50 if args.quick else 500)
            print(f"stream memory: {results['figures']['stream_memory']}", flush=True)
        if not only or "memory" in only:
            # One process, so the figure is what one socket costs one process.
            with web_server(env, web_processes=1) as server:
                sessions = make_sessions(server, 1)
                results["figures"]["memory"] = asyncio.run(memory_per_socket(server, sessions, 100 if args.quick else 500))
                print(f"memory: {results['figures']['memory']}", flush=True)
    out = ROOT / "bench"
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    from bench.report import write_markdown

    (out / "RESULTS.md").write_text(write_markdown(results))
    print(f"wrote {out / 'RESULTS.md'}")


def machine():
    cpus = os.cpu_count()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": cpus, "memory": mem, "cpu": model, "python": platform.python_version(), "os": platform.platform()}


def commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
