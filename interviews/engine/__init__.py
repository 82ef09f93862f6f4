"""The interviewer and the coach: local (built-in) or backed by a chat model.

get_engine() returns the engine named by settings.INTERVIEW_LLM.
"""

import asyncio
import weakref

from django.conf import settings

# Building a chat model is slow and its HTTP client belongs to the event
# loop that first used it, so model-backed engines are kept per loop (one per
# web process; a new one for each short-lived loop in workers). Engines hold
# no user data.
_engines_by_loop = weakref.WeakKeyDictionary()


def get_engine(name=None):
    name = name or settings.INTERVIEW_LLM
    # Imported where chosen: LangChain and its SDKs load only where a chat model is configured.
    if name == "local":
        from interviews.engine.local import LocalEngine

        return LocalEngine()
    from interviews.engine.llm import LLMEngine

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return LLMEngine(name)
    engines = _engines_by_loop.setdefault(loop, {})
    key = (name, settings.INTERVIEW_LLM_BASE_URL)
    if key not in engines:
        engines[key] = LLMEngine(name)
    return engines[key]


def warm_up():
    """The engine's warm-up: import and build the configured chat model now,
    not on a candidate's first turn (the speech app's is speech.warmup.warm_up)."""
    if settings.INTERVIEW_LLM == "local":
        return
    # Imported here, as in get_engine: LangChain loads only where a chat model is configured.
    from interviews.engine.llm import LLMEngine

    try:
        LLMEngine(settings.INTERVIEW_LLM).model
        # The SDKs' HTTP clients import their async backend on first use:
        # a cost on one candidate's first turn, paid here instead.
        import anyio._backends._asyncio  # noqa: F401
    except Exception:  # reported properly on first use
        pass
