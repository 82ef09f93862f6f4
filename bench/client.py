"""A simulated candidate: holds a whole interview over the real HTTP and
WebSocket endpoints, timing every turn and checking for leaked text.

Used by `make bench` with hundreds of candidates, and by tests with a few.
Traffic goes to the given base URL only (127.0.0.1 in benchmarks and tests).
"""

import asyncio
import json
import random
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx
import websockets

MARKER = re.compile(r"CANDIDATE-[0-9a-f]{8}")

ANSWERS = [
    "In my last role I led the migration of our billing service to Kubernetes. "
    "The situation was that deploys took two hours; my task was to cut that. "
    "I wrote the Helm charts, set up CI with GitHub Actions and trained the team. "
    "As a result deploys dropped to ten minutes and incidents fell by 40%.",
    "I handle disagreements by listening first. When a product manager and I disagreed "
    "about scope, I proposed a small experiment, we ran it for two weeks, and the data "
    "showed a 12% lift, so we shipped the smaller version first.",
    "I prioritise with impact and effort. Last quarter I had three urgent requests; "
    "I asked each owner for the deadline and cost of delay, agreed an order with my manager, "
    "and delivered all three within the month.",
]


@dataclass
class TurnTiming:
    submitted: float
    posted: float | None = None  # the answer POST's response arrived
    first_token: float | None = None
    done: float | None = None


@dataclass
class Result:
    marker: str
    turns: list = field(default_factory=list)  # list[TurnTiming]
    intro_seconds: float | None = None
    errors: list = field(default_factory=list)
    leaks: list = field(default_factory=list)
    completed: bool = False


class Candidate:
    """think_time: seconds between a question and the answer, or (low, high)
    for a uniformly random time per answer, as real candidates take."""

    def __init__(self, base_url, session_cookie, marker, think_time=0.0, questions=3, answer_texts=ANSWERS):
        self.base_url = base_url.rstrip("/")
        self.cookies = {"sessionid": session_cookie}
        self.marker = marker
        self.think_time = think_time
        self.questions = questions
        self.answers = answer_texts
        self.result = Result(marker=marker)

    async def run(self, timeout=300):
        try:
            await asyncio.wait_for(self._run(), timeout)
        except Exception as exc:  # recorded, not raised: the benchmark counts errors
            self.result.errors.append(f"{type(exc).__name__}: {exc}")
        return self.result

    async def _run(self):
        async with httpx.AsyncClient(base_url=self.base_url, cookies=self.cookies, timeout=60, follow_redirects=False) as http:
            page = await http.get("/interviews/new/")
            page.raise_for_status()
            csrf = http.cookies.get("csrftoken")
            created = await http.post(
                "/interviews/new/",
                data={
                    "csrfmiddlewaretoken": csrf,
                    "job_role": f"Backend Engineer {self.marker}",
                    "company": "Benchmark Ltd",
                    "job_description": "Python, Kubernetes, PostgreSQL, CI/CD, incident response",
                    "style": "formal",
                    "difficulty": "medium",
                    "length_mode": "questions",
                    "question_count": str(self.questions),
                    "mode": "realistic",
                },
                headers={"Referer": self.base_url + "/interviews/new/"},
            )
            if created.status_code != 302:
                raise RuntimeError(f"create failed: {created.status_code}")
            room = created.headers["location"]
            interview_id = room.rstrip("/").split("/")[-1]
            await self._converse(http, csrf, interview_id)

    async def _converse(self, http, csrf, interview_id):
        host = urlparse(self.base_url).netloc
        headers = {"Cookie": f"sessionid={self.cookies['sessionid']}", "Origin": self.base_url}
        url = f"ws://{host}/ws/interviews/{interview_id}/"
        started = time.perf_counter()
        async with websockets.connect(url, additional_headers=headers, max_size=2**22, open_timeout=30) as ws:
            self.timing = None  # the turn in progress, set when its answer is sent
            answered = 0
            answering = None  # the task thinking, then posting the next answer
            receiving = None
            try:
                while True:
                    # The socket is read while an answer is being posted, so a
                    # token that arrives before the POST's response is timed
                    # when it arrives, not when the POST returns.
                    receiving = receiving or asyncio.ensure_future(ws.recv())
                    waiting = {receiving} | ({answering} if answering and not answering.done() else set())
                    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    if answering in done:
                        answering.result()  # raises if the answer was refused
                    if receiving not in done:
                        continue
                    message = json.loads(receiving.result())
                    receiving = None
                    now = time.perf_counter()
                    self._check_leak(message)
                    event = message.get("event")
                    timing = self.timing
                    if event == "turn.token" and timing is not None and timing.first_token is None:
                        timing.first_token = now
                    elif event == "turn.failed":
                        self.result.errors.append(message.get("message", "turn failed"))
                        return
                    elif event == "turn.done":
                        if timing is None:
                            self.result.intro_seconds = now - started
                        else:
                            timing.done = now
                            self.result.turns.append(timing)
                            self.timing = None
                        if "This interview has ended" in message.get("answer_area", ""):
                            self.result.completed = True
                            return
                        answering = asyncio.ensure_future(self._answer(http, csrf, interview_id, message["turn_index"], answered))
                        answered += 1
                    elif event == "interview.completed":
                        self.result.completed = True
                        return
            finally:
                for task in (receiving, answering):
                    if task is not None and not task.done():
                        task.cancel()

    async def _answer(self, http, csrf, interview_id, after_index, answered):
        think = random.uniform(*self.think_time) if isinstance(self.think_time, tuple) else self.think_time
        if think:
            await asyncio.sleep(think)
        text = f"{self.answers[answered % len(self.answers)]} ({self.marker})"
        timing = self.timing = TurnTiming(submitted=time.perf_counter())
        response = await http.post(
            f"/interviews/{interview_id}/answer/",
            data={"answer": text, "after_index": after_index, "csrfmiddlewaretoken": csrf},
            headers={"HX-Request": "true", "X-CSRFToken": csrf},
        )
        timing.posted = time.perf_counter()
        if response.status_code != 200 or "error-box" in response.text:
            raise RuntimeError(f"answer refused: {response.status_code} {response.text[:200]}")
        self._check_leak({"html": response.text})

    def _check_leak(self, message):
        for found in MARKER.findall(json.dumps(message)):
            if found != self.marker:
                self.result.leaks.append(found)
