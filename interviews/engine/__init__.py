"""The interviewer and the coach: local (built-in) or backed by a chat model.

get_engine() returns the engine named by settings.INTERVIEW_LLM.
"""

from django.conf import settings


def get_engine(name=None):
    name = name or settings.INTERVIEW_LLM
    if name == "local":
        from interviews.engine.local import LocalEngine

        return LocalEngine()
    from interviews.engine.llm import LLMEngine

    return LLMEngine(name)
