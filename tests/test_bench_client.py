"""bench/client.py, the simulated candidate of `make bench`, with a small N:
it holds whole interviews over the real endpoints, times every turn and
notices text that belongs to someone else."""

import asyncio

from bench.client import Candidate, TurnTiming
from bench.run import make_sessions
from tests.live_server import LiveServer


def test_a_candidate_notices_another_candidates_marker():
    candidate = Candidate("http://127.0.0.1:1", "session", "CANDIDATE-0000aaaa")
    candidate._check_leak({"event": "turn.token", "text": "as CANDIDATE-0000aaaa said"})
    assert candidate.result.leaks == []
    candidate._check_leak({"event": "turn.done", "turn": "<p>CANDIDATE-0000bbbb</p>"})
    assert candidate.result.leaks == ["CANDIDATE-0000bbbb"]


def test_candidates_hold_whole_interviews_and_time_every_turn():
    with LiveServer(clusters=()) as server:
        sessions = make_sessions(server, 2)

        async def run():
            candidates = [
                Candidate(server.url, key, f"CANDIDATE-{i:08x}", think_time=(0.05, 0.2), questions=3)
                for i, key in enumerate(sessions)
            ]
            return await asyncio.gather(*(c.run(timeout=60) for c in candidates))

        results = asyncio.run(run())

    for result in results:
        assert result.errors == [] and result.leaks == []
        assert result.completed
        assert result.intro_seconds is not None
        assert len(result.turns) >= 3  # one per question, and any follow-ups
        for turn in result.turns:
            assert isinstance(turn, TurnTiming)
            assert turn.submitted < turn.first_token <= turn.done
            assert turn.submitted < turn.posted
