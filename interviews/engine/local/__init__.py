"""The built-in engine: no model, no network, deterministic.

Three roles, one module each: the interviewer (interviewer.py), the coach
(coach.py) and the report (report.py). LocalEngine puts them behind the engine
interface (engine.base).
"""

import asyncio

from interviews.engine.local.coach import coach_answer
from interviews.engine.local.interviewer import LocalInterviewer, key_phrase
from interviews.engine.local.report import build_report

__all__ = ["LocalEngine", "build_report", "coach_answer", "key_phrase"]


class LocalEngine(LocalInterviewer):
    name = "local"

    # Planning, coaching and the report analyse the candidate's text: CPU work,
    # done in a thread so that the event loop keeps serving every other socket
    # of the process meanwhile. Only the streaming stays on the loop.

    async def coach(self, ctx, question, answer, metrics):
        return await asyncio.to_thread(coach_answer, ctx, question, answer, metrics)

    async def report(self, ctx, answered):
        return await asyncio.to_thread(build_report, ctx, answered)
