"""Scale-out: two web processes (daphne) and the django-q2 cluster on ONE
PostgreSQL database and ONE Redis, sharing the channel layer and the cache.

A candidate creates an interview through web A, holds its WebSocket on web B
(and a second tab on web A), and posts answers alternately to A and B. The
interviewer's turn for an answer posted to A is written on A's event loop and
reaches the socket on B only through the Redis channel layer, so the test
proves that events cross processes. The report is built by the worker, and
several candidates run at once to show that no one sees anyone else's text.

Needs real services: skipped unless DATABASE_URL is PostgreSQL and REDIS_URL
is set (the suite's second pass), except under CI=true with
REQUIRE_SERVICES=true, where a missing service fails the test.
"""

import asyncio
import json
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pytest

from tests.live_server import LiveServer, free_port, require_services

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

MARKER = re.compile(r"CANDIDATE-[0-9a-f]{8}")
AFTER_INDEX = re.compile(r'name="after_index" value="(\d+)"')
CANDIDATES = 6
QUESTIONS = 3
TEST_TIMEOUT = 55  # seconds for the whole conversation part of the test

ANSWERS = [
    "In my last role I led the migration of our billing service to Kubernetes. The situation was that "
    "deploys took two hours; my task was to cut that. I wrote the Helm charts, set up CI and trained the "
    "team. As a result deploys dropped to ten minutes and incidents fell by 40%.",
    "I handle disagreements by listening first. When a product manager and I disagreed about scope, I "
    "proposed a small experiment, we ran it for two weeks, and the data showed a 12% lift, so we shipped "
    "the smaller version first.",
    "I prioritise with impact and effort. Last quarter I had three urgent requests; I asked each owner for "
    "the deadline and cost of delay, agreed an order with my manager, and delivered all three in a month.",
]


class TwoWebLiveServer(LiveServer):
    """LiveServer plus a second daphne ("web_b") on its own port, with the very
    same environment: same database, same REDIS_URL, same CHANNELS_PREFIX and
    CACHE_PREFIX, same SECRET_KEY (so sessions and CSRF tokens work on both)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.port_b = None

    @property
    def url_b(self):
        return f"http://{self.host}:{self.port_b}"

    def start(self):
        super().start()  # release, web (A), worker; stops everything itself on failure
        try:
            self.port_b = free_port(self.host)
            self._spawn(
                "web_b", [sys.executable, "-m", "daphne", "-b", self.host, "-p", str(self.port_b), self.asgi_app]
            )
            self.wait_for_http(self.url_b + "/accounts/login/", self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self


def make_sessions(server, count):
    from bench.run import make_sessions as bench_sessions

    return bench_sessions(server, count)


@dataclass
class Outcome:
    marker: str
    interview_id: str = ""
    errors: list = field(default_factory=list)
    leaks: list = field(default_factory=list)
    answers_to: list = field(default_factory=list)  # "A" / "B" per answer posted (200)
    tokens_on_b_after_a: int = 0  # tokens seen on B's socket for turns answered through A
    turns_on_b: list = field(default_factory=list)  # turn indexes of turn.done on B's socket
    turns_on_a_tab: list = field(default_factory=list)  # same, seen by the second tab on A
    events_a_tab: list = field(default_factory=list)  # every event the tab on A got, in order
    completed: bool = False
    report_ready: bool = False


class TwoDoorCandidate:
    """bench/client.Candidate's conversation, spread over two web processes."""

    def __init__(self, url_a, url_b, session, marker):
        self.urls = {"A": url_a.rstrip("/"), "B": url_b.rstrip("/")}
        self.session = session
        self.outcome = Outcome(marker=marker)

    def _check_leak(self, payload):
        for found in MARKER.findall(payload if isinstance(payload, str) else json.dumps(payload)):
            if found != self.outcome.marker:
                self.outcome.leaks.append(found)

    def _ws_url(self, door, interview_id):
        return f"ws://{urlparse(self.urls[door]).netloc}/ws/interviews/{interview_id}/"

    def _ws_headers(self, door):
        return {"Cookie": f"sessionid={self.session}", "Origin": self.urls[door]}

    async def run(self, timeout):
        try:
            await asyncio.wait_for(self._run(), timeout)
        except Exception as exc:
            self.outcome.errors.append(f"{type(exc).__name__}: {exc}")
        return self.outcome

    async def _run(self):
        import httpx

        cookies = {"sessionid": self.session}
        async with (
            httpx.AsyncClient(base_url=self.urls["A"], cookies=cookies, timeout=20) as http_a,
            httpx.AsyncClient(base_url=self.urls["B"], cookies=cookies, timeout=20) as http_b,
        ):
            page = await http_a.get("/interviews/new/")
            page.raise_for_status()
            csrf = http_a.cookies.get("csrftoken")
            http_b.cookies.set("csrftoken", csrf)  # one browser, one cookie jar
            created = await http_a.post(
                "/interviews/new/",
                data={
                    "csrfmiddlewaretoken": csrf,
                    "job_role": f"Backend Engineer {self.outcome.marker}",
                    "company": "Scale-out Ltd",
                    "job_description": "Python, Kubernetes, PostgreSQL, CI/CD, incident response",
                    "style": "formal",
                    "difficulty": "medium",
                    "length_mode": "questions",
                    "question_count": str(QUESTIONS),
                    "mode": "practice",
                },
                headers={"Referer": self.urls["A"] + "/interviews/new/"},
            )
            if created.status_code != 302:
                raise RuntimeError(f"create on A failed: {created.status_code} {created.text[:300]}")
            interview_id = created.headers["location"].rstrip("/").split("/")[-1]
            self.outcome.interview_id = interview_id
            http = {"A": http_a, "B": http_b}
            await self._converse(http, csrf, interview_id)
            await self._await_report(http_b, interview_id)
            # The finished report, downloaded through A, holds no one else's marker.
            report = await http_a.get(f"/interviews/{interview_id}/report.json")
            if report.status_code != 200:
                raise RuntimeError(f"report.json on A: {report.status_code}")
            self._check_leak(report.text)
            if self.outcome.marker not in report.text:
                raise RuntimeError("the report does not mention this candidate's own answers")

    async def _second_tab(self, interview_id, ready):
        """A second tab on web A: must see the same turns as the socket on B."""
        import websockets

        async with websockets.connect(
            self._ws_url("A", interview_id), additional_headers=self._ws_headers("A"), open_timeout=10
        ) as ws:
            ready.set()
            async for raw in ws:
                message = json.loads(raw)
                self._check_leak(message)
                self.outcome.events_a_tab.append(message.get("event"))
                if message.get("event") == "turn.done":
                    self.outcome.turns_on_a_tab.append(message["turn_index"])
                elif message.get("event") == "interview.completed":
                    return

    async def _converse(self, http, csrf, interview_id):
        import websockets

        tab_ready = asyncio.Event()
        tab = asyncio.create_task(self._second_tab(interview_id, tab_ready))
        try:
            await asyncio.wait_for(tab_ready.wait(), 10)
            async with websockets.connect(
                self._ws_url("B", interview_id), additional_headers=self._ws_headers("B"), open_timeout=10
            ) as ws:
                answered = 0
                last_door = None  # where the answer now being followed up was posted
                tokens = 0
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    self._check_leak(message)
                    event = message.get("event")
                    if event == "turn.token":
                        tokens += 1
                    elif event == "turn.failed":
                        raise RuntimeError(f"turn failed: {message.get('message')}")
                    elif event == "turn.done":
                        self.outcome.turns_on_b.append(message["turn_index"])
                        if last_door == "A":
                            if not tokens:
                                raise RuntimeError(
                                    f"turn {message['turn_index']} (answer posted to A) streamed no tokens to B"
                                )
                            self.outcome.tokens_on_b_after_a += tokens
                        tokens = 0
                        found = AFTER_INDEX.search(message.get("answer_area", ""))
                        if found is None:
                            if "This interview has ended" not in message.get("answer_area", ""):
                                raise RuntimeError("turn.done without an open question or the end")
                            continue  # interview.completed follows
                        after_index = int(found.group(1))
                        if after_index != message["turn_index"]:
                            raise RuntimeError(f"open question {after_index} is not the turn just done")
                        door = "A" if answered % 2 == 0 else "B"
                        text = f"{ANSWERS[answered % len(ANSWERS)]} ({self.outcome.marker})"
                        response = await http[door].post(
                            f"/interviews/{interview_id}/answer/",
                            data={"answer": text, "after_index": after_index, "csrfmiddlewaretoken": csrf},
                            headers={"HX-Request": "true", "X-CSRFToken": csrf, "Referer": self.urls[door] + "/"},
                        )
                        if response.status_code != 200 or "error-box" in response.text:
                            raise RuntimeError(f"answer via {door} refused: {response.status_code} {response.text[:300]}")
                        self._check_leak(response.text)
                        self.outcome.answers_to.append(door)
                        last_door = door
                        answered += 1
                    elif event == "interview.completed":
                        self.outcome.completed = True
                        break
            await asyncio.wait_for(tab, 15)
        finally:
            if not tab.done():
                tab.cancel()
                await asyncio.gather(tab, return_exceptions=True)

    async def _await_report(self, http, interview_id, timeout=30):
        """Poll the report status (as the report page does) until the worker has built it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = await http.get(f"/interviews/{interview_id}/report/status/")
            if response.status_code == 204:
                self.outcome.report_ready = True
                return
            if response.status_code != 200 or "could not be built" in response.text:
                raise RuntimeError(f"report status: {response.status_code} {response.text[:300]}")
            self._check_leak(response.text)
            await asyncio.sleep(0.5)
        raise RuntimeError(f"the worker did not build the report within {timeout} s")


def database_turns(server, interview_ids):
    """Candidate answers and interviewer turns per interview, read straight from PostgreSQL."""
    import psycopg

    with psycopg.connect(server.database_url, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT interview_id::text, index, speaker, text FROM interviews_turn "
            "WHERE interview_id::text = ANY(%s) ORDER BY interview_id, index",
            [list(interview_ids)],
        ).fetchall()
        statuses = dict(
            conn.execute(
                "SELECT id::text, status || '/' || summary_status FROM interviews_interview WHERE id::text = ANY(%s)",
                [list(interview_ids)],
            ).fetchall()
        )
    turns = {}
    for interview_id, index, speaker, text in rows:
        turns.setdefault(interview_id.replace("-", ""), []).append((index, speaker, text))
    return turns, {k.replace("-", ""): v for k, v in statuses.items()}


def compress(events):
    out = []
    for e in events:
        if out and out[-1][0] == e:
            out[-1][1] += 1
        else:
            out.append([e, 1])
    return out


@pytest.fixture
def two_web_server():
    require_services()
    # The built-in engine at its production pace (one word per 20 ms, the
    # settings default), rather than LiveServer's faster test pace.
    server = TwoWebLiveServer(env={"INTERVIEW_LOCAL_STREAM_DELAY": "0.02"})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_two_web_processes_share_one_database_and_one_channel_layer(two_web_server):
    server = two_web_server
    assert server.env["DATABASE_URL"].startswith("postgres") and server.env["REDIS_URL"]
    assert {"web", "web_b", "worker"} <= set(server.processes)
    assert server.port != server.port_b
    marks = server.log_marks()
    sessions = make_sessions(server, CANDIDATES)
    markers = [f"CANDIDATE-{uuid.uuid4().hex[:8]}" for _ in sessions]

    async def everyone():
        candidates = [TwoDoorCandidate(server.url, server.url_b, s, m) for s, m in zip(sessions, markers)]
        return await asyncio.gather(*(c.run(timeout=TEST_TIMEOUT - 10) for c in candidates))

    started = time.monotonic()
    outcomes = asyncio.run(everyone())
    elapsed = time.monotonic() - started
    server.check_alive()

    errors = {o.marker: o.errors for o in outcomes if o.errors}
    leaks = {o.marker: o.leaks for o in outcomes if o.leaks}
    context = f"\n{server.logs(tail_chars=6000)}" if errors or leaks else ""
    assert not errors, f"candidates hit errors: {errors}{context}"
    assert not leaks, f"markers leaked between candidates: {leaks}{context}"
    assert all(o.completed for o in outcomes), [o.marker for o in outcomes if not o.completed]
    assert all(o.report_ready for o in outcomes)
    for o in outcomes:
        # Answers really went through both doors, and turns answered through A streamed to B.
        assert "A" in o.answers_to and "B" in o.answers_to, o.answers_to
        assert o.tokens_on_b_after_a > 0
        # Both tabs (one per web process) saw the same turns, each once, in order.
        assert o.turns_on_b == sorted(set(o.turns_on_b)), o.turns_on_b
        assert o.turns_on_a_tab == o.turns_on_b, (o.turns_on_a_tab, o.turns_on_b, compress(o.events_a_tab))

    # The database agrees: every posted answer is there once, under its own interview only.
    turns, statuses = database_turns(server, [o.interview_id for o in outcomes])
    for o in outcomes:
        rows = turns[o.interview_id.replace("-", "")]
        assert [r[0] for r in rows] == list(range(len(rows))), "turn indexes have gaps or repeats"
        answers = [text for _, speaker, text in rows if speaker == "candidate"]
        assert len(answers) == len(o.answers_to)
        assert all(a.endswith(f"({o.marker})") for a in answers)
        assert statuses[o.interview_id.replace("-", "")] == "completed/ready"
    assert elapsed < TEST_TIMEOUT
    errors_logged = server.errors_since(marks)
    assert not errors_logged, f"the app logged errors:\n{errors_logged}"
