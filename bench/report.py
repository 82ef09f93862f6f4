"""bench/RESULTS.md from bench/results.json: every figure against its target."""

TARGETS = {
    "overhead_p95": 0.050,  # per-turn server overhead at 200 concurrent interviews
    "ttft": 0.020,  # first token on the page after the model's first token
}


def _row(label, stats, unit=1000, suffix="ms"):
    if not stats or not stats.get("n"):
        return f"| {label} | – | – | – | – |"
    return f"| {label} | {stats['p50'] * unit:.0f} {suffix} | {stats['p95'] * unit:.0f} {suffix} | {stats['p99'] * unit:.0f} {suffix} | {stats['n']} |"


def _ms_row(label, stats):
    if not stats or not stats.get("n"):
        return f"| {label} | – | – | – | 0 |"
    return f"| {label} | {stats['p50']:.0f} ms | {stats['p95']:.0f} ms | {stats['p99']:.0f} ms | {stats['n']} |"


def write_markdown(results):
    m = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"- Date: {results['date']}",
        f"- Commit: {results['commit']}",
        f"- Machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory']}, Python {m['python']}, {m['os']}",
        f"- Model: fake Gemini server on 127.0.0.1, real `langchain-google-genai` client, every call answered after {results['model_latency_seconds']} s",
        f"- Stack: daphne ({results.get('turn_load', {}).get('web_processes', 1)} processes on one socket, PostgreSQL pool) + django-q2, "
        "PostgreSQL 15 and Redis 7 on loopback, channels-redis layer; the load generators and the fake model run on the same 2 cores",
        "",
    ]
    figures = results["figures"]
    if "turn_overhead" in figures:
        tl = results.get("turn_load", {})
        lines += [
            "## 1. Per-turn server overhead",
            "",
            f"Each simulated candidate holds a whole {tl.get('questions', 3)}-question interview over the real HTTP and WebSocket "
            f"endpoints, taking {tl.get('think_seconds', [3, 3])[0]:.0f}–{tl.get('think_seconds', [3, 3])[1]:.0f} s (uniformly random) "
            f"to answer each question; candidates arrive at {tl.get('arrivals_per_second', '–')} a second, so all N interviews are open "
            "at once for most of the run. Turn time is answer POST → `turn.done` on the socket; overhead is turn time "
            "minus the fake model's 0.3 s. Target: p95 ≤ 50 ms at 200 concurrent interviews.",
            "",
            "| concurrent interviews | p50 overhead | p95 overhead | p99 overhead | turns | errors | leaks | completed |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for n, f in figures["turn_overhead"].items():
            o = f["overhead_seconds"]
            if o.get("n"):
                lines.append(
                    f"| {n} | {o['p50'] * 1000:.0f} ms | {o['p95'] * 1000:.0f} ms | {o['p99'] * 1000:.0f} ms | {f['turns']} | {f['errors']} | {f['leaks']} | {f['completed']}/{f['candidates']} |"
                )
            else:
                lines.append(f"| {n} | – | – | – | 0 | {f['errors']} | {f['leaks']} | {f['completed']}/{f['candidates']} |")
        lines.append("")
        lines += ["## 2. Time to first token", "", "First `turn.token` on the socket after the answer POST, minus the model's 0.3 s to its first byte. Target ≤ 20 ms.", "",
                  "| concurrent interviews | p50 | p95 | p99 | n |", "|---|---|---|---|---|"]
        for n, f in figures["turn_overhead"].items():
            lines.append(_row(n, f["first_token_after_model_seconds"]))
        lines.append("")
    if "prototype_profile" in figures:
        lines += [
            "## Prototype profile, side by side",
            "",
            "All candidates start together, no think time, 5 answers each, every model call 0.3 s. "
            "The prototype measured 0.61 s (N=1), 6.1 s (N=10) and 30.6 s (N=50) p95 per answer on this profile; the floor is the model's own time (0.3 s).",
            "",
            "| candidates | p50 per answer | p95 per answer | p99 | prototype p95 | errors | leaks |",
            "|---|---|---|---|---|---|---|",
        ]
        proto = {"10": "6.1 s", "50": "30.6 s"}
        for n, f in figures["prototype_profile"].items():
            t = f["turn_seconds"]
            if t.get("n"):
                lines.append(f"| {n} | {t['p50']:.2f} s | {t['p95']:.2f} s | {t['p99']:.2f} s | {proto.get(n, '–')} | {f['errors']} | {f['leaks']} |")
        lines.append("")
    if "memory" in figures:
        mem = figures["memory"]
        lines += ["## 6. Memory", "", f"{mem['sockets']} open interview sockets on one daphne process: RSS {mem['rss_before_mb']} MB → {mem['rss_after_mb']} MB, "
                  f"about {mem['kb_per_socket']} KB per socket.", ""]
    if "stream_memory" in figures:
        sm = figures["stream_memory"]
        if "memory" not in figures:
            lines += ["## 6. Memory", ""]
        lines += [f"{sm['opened']} of {sm['streams']} live transcription streams open on one daphne process, each relayed to a fake "
                  f"Deepgram and each having transcribed a frame: RSS {sm['rss_before_mb']} MB → {sm['rss_with_streams_mb']} MB, "
                  f"about {sm['kb_per_stream']} KB per stream; errors {sm['errors']}, slots held after closing {sm['cap_slots_held_after']}.", ""]
    if "relay" in figures:
        r = figures["relay"]
        lines += [
            "## 3. Live transcription relay",
            "",
            f"{r['streams']} concurrent real-time streams of 100 ms PCM frames for {r['seconds']} s through the speech "
            "socket to a fake Deepgram server (its own process), against the same number of direct connections to the "
            "fake in the same run. Latency: frame sent → the transcript event it caused received. Target: ≤ 10 ms p95 added.",
            "",
            "| path | p50 | p95 | p99 | frames |",
            "|---|---|---|---|---|",
            _ms_row("through the app", r.get("relay_ms")),
            _ms_row("direct to the fake", r.get("direct_ms")),
            f"| **added** | {r.get('added_ms', {}).get('p50', '–')} ms | **{r.get('added_ms', {}).get('p95', '–')} ms** | {r.get('added_ms', {}).get('p99', '–')} ms | |",
            "",
            f"Streams completed {r.get('streams_completed')}/{r['streams']}, errors {r.get('errors')}, frames unanswered "
            f"{r.get('frames_unanswered')}; stream slots held after the run: {r.get('cap_slots_held_after')}.",
            "",
        ]
    if "voice_turn" in figures:
        v = figures["voice_turn"]
        lines += [
            "## 4. Voice turn, local engines",
            "",
            "One candidate, built-in interviewer, piper on the `tts` cluster. Answer POST (the moment the candidate's "
            "speech ends and the answer is sent) → first byte of the next question's first sentence of audio. Target ≤ 1.5 s.",
            "",
            "| measure | p50 | p95 | p99 | n |",
            "|---|---|---|---|---|",
            _ms_row("first audio byte", v.get("first_audio_ms")),
            _ms_row("first sentence announced", v.get("sentence_event_ms")),
            _ms_row("waiting for a tts worker", v.get("tts_queue_wait_ms")),
            _ms_row("piper synthesis", v.get("tts_worker_ms")),
            "",
        ]
    if "caps" in figures:
        c = figures["caps"]
        lines += [
            "## 5. Concurrency caps",
            "",
            f"{c['processes']} processes, a backlog of {c['jobs']} jobs (10× the cap of {c['cap']}), each call {c['call_s']} s, "
            f"{c['backend']} backend.",
            "",
            f"- Most concurrent calls the provider saw: **{c['max_concurrency_seen']}** (cap {c['cap']}; held: {c['cap_held']})",
            f"- Slot utilisation: **{c['utilisation']:.0%}** (target ≥ 90 %); wall time {c['provider_wall_s']} s vs ideal {c['ideal_wall_s']} s",
            "",
        ]
    if results.get("notes"):
        lines += ["## Notes", ""] + results["notes"]
    return "\n".join(lines) + "\n"
