"""bench/cpu.py: the web processes' CPU per answer that every benchmark run records."""

import asyncio
import os
import signal
import subprocess
import sys
import time

from bench.client import Candidate
from bench.cpu import WebCpu, _children, cpu_seconds
from bench.report import write_markdown
from bench.run import make_sessions, summarise
from tests.live_server import LiveServer

BUSY_CHILD = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\ntime.sleep(30)\n"


def test_it_counts_the_cpu_of_a_live_child_process():
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BUSY_CHILD!r}])"])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if cpu_seconds(parent.pid, children=True) - cpu_seconds(parent.pid) >= 0.4:
                break
            time.sleep(0.1)
        assert cpu_seconds(parent.pid, children=True) - cpu_seconds(parent.pid) >= 0.4
    finally:
        for child in _children(parent.pid):
            os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()


def test_it_says_none_for_a_process_that_is_gone():
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    assert cpu_seconds(finished.pid) is None


def test_a_tiny_run_records_a_positive_web_cpu_per_answer():
    with LiveServer(clusters=()) as server:
        sessions = make_sessions(server, 2)

        async def run():
            candidates = [
                Candidate(server.url, key, f"CANDIDATE-{i:08x}", think_time=(0.05, 0.2), questions=3)
                for i, key in enumerate(sessions)
            ]
            return await asyncio.gather(*(c.run(timeout=60) for c in candidates))

        with WebCpu(server) as cpu:
            results = asyncio.run(run())
        assert cpu.pids == [server.processes["web"].pid]

    figure = summarise(results, 0.0, cpu)
    assert figure["answers"] >= 6  # two candidates, three questions each
    assert figure["web_cpu_seconds"] > 0
    assert figure["web_cpu_ms_per_answer"] > 0
    report = write_markdown(
        {"machine": {"cpus": 2, "cpu": "", "memory": "", "python": "", "os": ""}, "date": "", "commit": "",
         "model_latency_seconds": 0.3, "figures": {"turn_overhead": {"2": figure}}}
    )
    assert f"{figure['web_cpu_ms_per_answer']:.1f} ms" in report
