"""An engine whose replies the test writes: for pipeline, consumer and view tests.

The real engines are tested on their own (test_engine_local, test_engine_llm
against a fake Gemini server); here we test what the app does with an
engine's output, including its failures.
"""

import asyncio

from interviews.engine.base import (
    CLOSE,
    INTRODUCE,
    NEW_QUESTION,
    CoachResult,
    Decision,
    EngineError,
    ReportNarrative,
    Usage,
)


class ScriptedEngine:
    name = "scripted"

    def __init__(self, fail_with=None, delay=0.0, chunks=3):
        self.fail_with = fail_with
        self.delay = delay
        self.chunks = chunks
        self.calls = []

    async def stream_turn(self, ctx, allowed):
        self.calls.append(("turn", sorted(allowed)))
        if self.fail_with:
            raise EngineError(self.fail_with)
        action = INTRODUCE if INTRODUCE in allowed else (NEW_QUESTION if NEW_QUESTION in allowed else CLOSE)
        yield Decision(action=action, justification="scripted", topics=[f"topic-{len(ctx.transcript)}"])
        n = ctx.main_questions_asked + 1
        text = "Thank you, that is all for today." if action == CLOSE else f"Question number {n} for {ctx.job_role}?"
        words = text.split(" ")
        for i, word in enumerate(words):
            if self.delay:
                await asyncio.sleep(self.delay)
            if i == 0:
                self.calls.append(("first words", text))
            yield word + (" " if i < len(words) - 1 else "")
        yield Usage(tokens_in=10, tokens_out=len(words), model_ms=5, first_token_ms=1, calls=1)

    async def coach(self, ctx, question, answer, metrics):
        self.calls.append(("coach", answer))
        if self.fail_with:
            raise EngineError(self.fail_with)
        quote = answer[:40]
        scores = {d: {"score": 4, "evidence": quote, "note": "scripted"} for d in ("relevance", "structure", "specificity", "communication", "role_fit")}
        return CoachResult(scores=scores, strengths=["clear"], improvements=["add numbers"], text="Scripted feedback.", source="scripted", usage=Usage(tokens_in=5, tokens_out=5, model_ms=3, calls=1))

    async def report(self, ctx, answered):
        if self.fail_with:
            raise EngineError(self.fail_with)
        return ReportNarrative(patterns="Scripted patterns.", strengths=["s1"], focus_areas=[{"area": "Outcomes", "why": "w", "next_steps": ["a", "b"]}], source="scripted", usage=Usage(calls=1))
