"""bench/RESULTS.md from bench/results.json: every figure against its target."""

TARGETS = {
    "overhead_p95": 0.050,  # per-turn server overhead at 200 concurrent interviews
    "ttft": 0.020,  # first token on the page after the model's first token
    "web_cpu_ms_per_answer": 25,  # web-process CPU per answer at 200 concurrent interviews
}


def _cpu(f):
    """Web-process CPU per answer of one run, or a dash for runs recorded before it was measured."""
    ms = f.get("web_cpu_ms_per_answer")
    return f"{ms:.1f} ms" if ms is not None else "–"


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
            "minus the fake model's 0.3 s. Target: p95 ≤ 50 ms at 200 concurrent interviews. "
            "Web CPU per answer: CPU seconds of every web process (and its children, from /proc) over the run, "
            f"divided by the answers posted. Target: ≤ {TARGETS['web_cpu_ms_per_answer']} ms at 200.",
            "",
            "| concurrent interviews | p50 overhead | p95 overhead | p99 overhead | web CPU per answer | turns | errors | leaks | completed |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for n, f in figures["turn_overhead"].items():
            o = f["overhead_seconds"]
            if o.get("n"):
                lines.append(
                    f"| {n} | {o['p50'] * 1000:.0f} ms | {o['p95'] * 1000:.0f} ms | {o['p99'] * 1000:.0f} ms | {_cpu(f)} | {f['turns']} | {f['errors']} | {f['leaks']} | {f['completed']}/{f['candidates']} |"
                )
            else:
                lines.append(f"| {n} | – | – | – | {_cpu(f)} | 0 | {f['errors']} | {f['leaks']} | {f['completed']}/{f['candidates']} |")
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
            "| candidates | p50 per answer | p95 per answer | p99 | prototype p95 | web CPU per answer | errors | leaks |",
            "|---|---|---|---|---|---|---|---|",
        ]
        proto = {"10": "6.1 s", "50": "30.6 s"}
        for n, f in figures["prototype_profile"].items():
            t = f["turn_seconds"]
            if t.get("n"):
                lines.append(f"| {n} | {t['p50']:.2f} s | {t['p95']:.2f} s | {t['p99']:.2f} s | {proto.get(n, '–')} | {_cpu(f)} | {f['errors']} | {f['leaks']} |")
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
    if "voice_turns" in figures:
        lines += _voice_turns_section(figures["voice_turns"])
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


def _ms(stats, key):
    return f"{stats[key]:.0f} ms" if stats and stats.get("n") else "–"


def _voice_turns_section(v):
    """Section 7: voice turn-taking (bench/voice_turns.py)."""
    m = v.get("machine", {})
    f = v.get("finished", {})
    ended = ", ".join(f"{k} {n}" for k, n in f.get("ended_by", {}).items()) or "–"
    lines = [
        "## 7. Voice turn-taking, local engines",
        "",
        f"Run {v.get('date')} at commit {v.get('commit')} on {m.get('cpus')} CPUs ({m.get('cpu')}), {m.get('memory')}; "
        f"{v.get('live_wall_s')} s of real-time audio and turns, {v.get('wall_s')} s in all; load average "
        f"{v.get('load_average_before')} before, {v.get('load_average_after')} after. Stack: one daphne process, "
        f"{v.get('stack', {}).get('database')}, {v.get('stack', {}).get('channel_layer')} channel layer, DEBUG={v.get('stack', {}).get('debug')}.",
        "",
        "Recorded answers (piper) are played into the microphone socket in real time, 100 ms frames then silent "
        "frames, and nobody presses anything: the server decides the end of the turn (`turn`/`send`), and the bench "
        "then does what the page does: POSTs the answer at once and fetches the first sentence of the next question's "
        "audio the moment the room socket announces it. Built-in interviewer, local Whisper, piper on the `tts` cluster. "
        "Times are from the end of the last word.",
        "",
        f"**Finished answers** ({f.get('n', 0)} after one warm-up; ended by {ended}; "
        f"\"still listening\" shown first for {f.get('thinking_shown', 0)}; errors {f.get('errors', 0)}). "
        "Target: first audio ≤ 1.5 s p50.",
        "",
        "| from the end of speech to | p50 | p95 | n |",
        "|---|---|---|---|",
    ]
    steps = [
        ("the last Whisper final (VAD pause + transcription)", "final_ms"),
        ("`turn`/`send` (+ the end-of-turn decision)", "send_ms"),
        ("the answer POST's response", "posted_ms"),
        ("the next question's first sentence announced (+ interviewer)", "sentence_ms"),
        ("**first byte of its audio** (+ piper)", "first_audio_ms"),
    ]
    for label, key in steps:
        s = f.get(key, {})
        lines.append(f"| {label} | {_ms(s, 'p50')} | {_ms(s, 'p95')} | {s.get('n', 0) if s else 0} |")
    lines += [
        "",
        f"First sentences from the TTS cache: {f.get('cached_first_sentences', 0)}; for the others, waiting for a "
        f"`tts` worker p50 {_ms(f.get('tts_queue_ms'), 'p50')} and piper p50 {_ms(f.get('tts_worker_ms'), 'p50')}.",
        "",
        "| answer | speech | ended by | final | send | first audio |",
        "|---|---|---|---|---|---|",
    ]

    def sec(x):
        return "–" if x is None else f"{x:.2f} s"

    for r in v.get("finished_answers", []):
        lines.append(
            f"| {r['name']} | {r['speech_s']:.1f} s | {r['ended_by'] or r['error'][:40] or '–'} | {sec(r['final_s'])} | "
            f"{sec(r['send_s'])} | {sec(r['first_audio_s'])} |"
        )
    lines += [
        "",
        "**Paused answers**: a 5, 10 or 20 s silence mid-sentence or after \"let me think\", then the rest of the answer. "
        "Cut = sent before the second half was spoken, or sent without it. Target: 0 at every length.",
        "",
        "| pause | answers | cut | sent before the 2nd half | 2nd half missing | \"still listening\" in the pause | ended by |",
        "|---|---|---|---|---|---|---|",
    ]
    for pause, p in v.get("paused", {}).items():
        ended = ", ".join(f"{k} {n}" for k, n in p.get("ended_by", {}).items())
        lines.append(
            f"| {pause} s | {p['n']} | **{p['cut']}** | {p['sent_before_second_half']} | {p['second_half_missing']} | "
            f"{p['thinking_shown']} | {ended} |"
        )
    lines += [
        "",
        "| answer | cut | \"still listening\" after the pause began | ended by | send after the last word | thinking seconds reported |",
        "|---|---|---|---|---|---|",
    ]
    for r in v.get("paused_answers", []):
        shown = "–" if r["thinking_shown_in_pause_s"] is None else f"{r['thinking_shown_in_pause_s']:.2f} s"
        lines.append(
            f"| {r['name']} | {'**yes**' if r['cut'] else 'no'} | {shown} | {r['ended_by'] or r['error'][:40] or '–'} | "
            f"{sec(r['send_after_end_s'])} | {r['thinking_seconds'] if r['thinking_seconds'] is not None else '–'} |"
        )
    stored = v.get("answers_stored") or {}
    if stored:
        ended = ", ".join(f"{k} {n}" for k, n in stored.get("ended_by", {}).items())
        lines += [
            "",
            f"Answers posted {v.get('answers_posted')}; stored by the app as spoken answers {stored.get('live_voice')} "
            f"(ended by {ended}; with thinking time {stored.get('with_thinking_seconds')}). Errors {v.get('errors', 0)}"
            + (f": {'; '.join(v.get('error_samples', []))}" if v.get("errors") else "") + ".",
        ]
    model = v.get("model") or {}
    if model:
        lines += [
            "",
            f"**The model alone** (`{model.get('detector', 'speech.turn_detector')}`, threshold {model.get('threshold')}): "
            f"the last ≤ 8 s of each recording up to the end of a word plus {model.get('tail_s', 0.2)} s of silence.",
            "",
            "| case | correct | of |",
            "|---|---|---|",
        ]
        for label, key in (("finished, at the end", "finished_at_end"), ("unfinished, at the pause", "unfinished_at_pause")):
            c = model.get(key, {})
            lines.append(f"| {label} | {c.get('correct', '–')} | {c.get('n', '–')} |")
        cpu = model.get("cpu_ms", {})
        lines += [
            "",
            f"Accuracy {model.get('accuracy', 0):.0%}. CPU per decision (time.process_time, {model.get('decisions', 0)} "
            f"decisions): p50 {_ms(cpu, 'p50')}, p95 {_ms(cpu, 'p95')}, mean {_ms(cpu, 'mean')}.",
        ]
        if model.get("with_cues"):
            w = model["with_cues"]
            lines.append(
                f"With the transcript's cues as the server combines them (speech.turn_policy on Whisper's text of the words "
                f"so far): {w.get('correct')} of {w.get('n')} correct; finished at the end "
                f"{w.get('finished_at_end', {}).get('correct')}/{w.get('finished_at_end', {}).get('n')}, unfinished at the pause "
                f"{w.get('unfinished_at_pause', {}).get('correct')}/{w.get('unfinished_at_pause', {}).get('n')}."
            )
        lines += ["", "| recording | at | probability | cue | model | with cues | Whisper's last words |", "|---|---|---|---|---|---|---|"]
        for c in model.get("cases", []):
            ok = "✓" if c["model_finished"] == c["expected_finished"] else "✗"
            ok_cues = "✓" if c["with_cues_finished"] == c["expected_finished"] else "✗"
            lines.append(
                f"| {c['name']} | {c['at']} | {c['probability']:.2f} | {c['cue'] or '–'} | {ok} | {ok_cues} | …{c['transcript'][-45:]} |"
            )
        if model.get("by_tail"):
            lines += [
                "",
                "The model alone is very sensitive to how much of the pause it is given: the same recordings with more or "
                f"less silence after the last word (the server gives it {model.get('tail_s', 0.8)} s after the VAD's end of speech).",
                "",
                "| silence after the words | finished at the end | unfinished at the pause |",
                "|---|---|---|",
            ]
            for tail, t in model["by_tail"].items():
                e, pz = t["finished_at_end"], t["unfinished_at_pause"]
                lines.append(f"| {tail} s | {e[0]} of {e[1]} | {pz[0]} of {pz[1]} |")
        whisper = model.get("whisper_final_ms", {})
        lines += [
            "",
            f"Alone on the same machine, Whisper's final of these answers' words (tiny.en, {whisper.get('n', 0)} calls on "
            f"{min(model.get('whisper_audio_s') or [0]):.1f}–{max(model.get('whisper_audio_s') or [0]):.1f} s of speech) took "
            f"p50 {_ms(whisper, 'p50')}, p95 {_ms(whisper, 'p95')}; one decision of the model p50 {_ms(model.get('wall_ms'), 'p50')} wall. "
            f"Settings: {', '.join(f'{k}={val}' for k, val in (model.get('settings') or {}).items() if val is not None)}.",
        ]
    if v.get("notes"):
        lines += [""] + v["notes"]
    lines.append("")
    return lines
