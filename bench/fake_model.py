"""The fake Gemini server as a process of its own, so the benchmark's load
generator and the fake model do not share one interpreter (and one GIL) with
each other: `python -m bench.fake_model` prints its URL and key, then serves
until stdin closes."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    sys.path.insert(0, str(ROOT))
    from bench.run import interviewer_reply
    from tests.fakes.gemini import FakeGemini

    with FakeGemini() as fake:
        fake.respond_with(interviewer_reply)
        fake.requests = _Discard()  # a long benchmark would otherwise keep every request
        print(fake.url, fake.api_key, flush=True)
        sys.stdin.read()


class _Discard(list):
    def append(self, item):
        pass


class FakeModelProcess:
    def __enter__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_model"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.url, self.api_key = self.process.stdout.readline().split()
        return self

    def __exit__(self, *exc):
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


if __name__ == "__main__":
    main()
