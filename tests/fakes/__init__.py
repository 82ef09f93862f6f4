"""Protocol-level fakes of outside services, for tests and benchmarks.

tests.fakes.gemini.FakeGemini speaks the Gemini REST wire protocol; its pytest
fixture is `fake_gemini` (enable with `pytest_plugins = ["tests.fakes.gemini"]`).
"""
