"""Faults mid-interview: Redis restarts, PostgreSQL restarts, a web process restarts.

Each test runs the real app (tests/live_server.py: migrate, daphne, the
django-q2 cluster) and a browser-like client that behaves as static/js/room.js
does: one WebSocket that reconnects by itself (and resyncs from the `sync`
event), answers posted over HTTP, a second click on "Send" when a post failed,
and a click on "Retry" when the room offers one. Mid-interview the test breaks
something, then checks that in-flight requests failed cleanly (an HTTP status,
never a hang), that the interview then runs to its end and gets its report,
and that no answer was lost: every answer whose POST got a 200 is in the
database as the candidate's turn.

The Redis and PostgreSQL that get restarted are this module's own throwaway
instances, on free loopback ports, so the suite's shared services (used by the
other tests of the same pytest run) are never disturbed.

Needs real services: skipped unless DATABASE_URL is PostgreSQL and REDIS_URL
is set (the suite's second pass), except under CI=true with
REQUIRE_SERVICES=true, where a missing service fails the test.
"""

import asyncio
import atexit
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.live_server import LiveServer, _setting_from_env, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PROJECT_DIR = Path(__file__).resolve().parent.parent
AFTER_INDEX = re.compile(r'name="after_index" value="(\d+)"')
TEST_SECONDS = 55  # every test finishes (or fails) within this, server start included
ANSWER = (
    "In my last role I led the migration of our billing service to Kubernetes. Deploys took two hours; "
    "I wrote the Helm charts, set up CI and trained the team, and deploys dropped to ten minutes. "
)
# Slow enough that a fault can land while a turn is streaming (a turn is
# some 30-60 words), fast enough for the whole interview to take seconds.
APP_ENV = {"INTERVIEW_LOCAL_STREAM_DELAY": "0.03"}


# ----- skipping -----


def require_services():
    """Skip without PostgreSQL + Redis; fail instead under CI=true with REQUIRE_SERVICES=true."""
    missing = []
    if not _setting_from_env("DATABASE_URL", os.environ).startswith(("postgres://", "postgresql://")):
        missing.append("DATABASE_URL does not point at PostgreSQL")
    if not _setting_from_env("REDIS_URL", os.environ):
        missing.append("REDIS_URL is not set")
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} is not installed")
    if pg_bin() is None:
        missing.append("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    if missing:
        reason = "; ".join(missing) + " (run with scripts/test-with-services.sh)"
        if os.environ.get("CI") == "true" and os.environ.get("REQUIRE_SERVICES") == "true":
            pytest.fail(f"{reason} — CI=true and REQUIRE_SERVICES=true: a missing service fails the run", pytrace=False)
        pytest.skip(reason)


# ----- this module's own Redis and PostgreSQL -----


def pg_bin():
    """Where initdb and pg_ctl live (as scripts/services.sh looks for them)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True) + [Path("/usr/local/bin"), Path("/usr/bin")]
    for directory in candidates:
        if (directory / "pg_ctl").exists() and (directory / "initdb").exists():
            return directory
    return None


class PrivateRedis:
    """A throwaway redis-server on a free loopback port, started the way scripts/services.sh does."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="interviewer-faults-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        atexit.register(self.stop)
        subprocess.run(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--logfile", str(self.dir / "redis.log"), "--pidfile", str(self.dir / "redis.pid")],
            check=True, stdout=subprocess.DEVNULL, timeout=30,
        )  # fmt: skip
        self._wait(lambda: self.ping(), "start")
        return self

    def ping(self):
        result = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, timeout=5)
        return result.stdout.strip() == "PONG"

    def shutdown(self):
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, timeout=10)
        self._wait(lambda: not self.ping(), "stop")

    def stop(self):
        atexit.unregister(self.stop)
        with contextlib.suppress(Exception):
            subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, timeout=10)
        with contextlib.suppress(Exception):  # still there? (e.g. it hung): by its own pid
            os.kill(int((self.dir / "redis.pid").read_text()), signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _wait(condition, what, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not {what} within {timeout} s")


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb in a temporary directory, run as
    the `postgres` user when we are root) on a free loopback port."""

    def __init__(self):
        self.bin = pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="interviewer-faults-pg-"))
        self.data = self.dir / "pg"
        self.log = self.dir / "pg.log"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self._started = False

    def _as_postgres(self, command, timeout=60):
        if os.geteuid() == 0:
            argv = ["su", "postgres", "-s", "/bin/sh", "-c", command]
        else:
            argv = ["sh", "-c", command]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{command!r} failed ({result.returncode}): {result.stderr or result.stdout}\n{self._log_tail()}")

    def _log_tail(self):
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def start(self):
        atexit.register(self.stop)
        self.data.mkdir(mode=0o700)
        self.log.touch()
        if os.geteuid() == 0:
            subprocess.run(["id", "postgres"], check=True, capture_output=True)  # services.sh creates the user
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.data, "postgres")
            shutil.chown(self.log, "postgres")
        q = shlex.quote
        self._as_postgres(f"{q(str(self.bin / 'initdb'))} -D {q(str(self.data))} -U postgres --auth=trust -E UTF8 -N >/dev/null")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data} -c max_connections=200 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._started = True
        self._as_postgres(
            f"{q(str(self.bin / 'pg_ctl'))} -D {q(str(self.data))} -l {q(str(self.log))} -w -t 30 -o {q(options)} start >/dev/null"
        )
        return self

    def restart(self):
        """`pg_ctl restart -m fast`: every connection is terminated, then the server comes back."""
        q = shlex.quote
        self._as_postgres(f"{q(str(self.bin / 'pg_ctl'))} -D {q(str(self.data))} -w -t 30 -m fast restart >/dev/null")

    def stop(self):
        atexit.unregister(self.stop)
        if self._started:
            q = shlex.quote
            with contextlib.suppress(Exception):
                self._as_postgres(f"{q(str(self.bin / 'pg_ctl'))} -D {q(str(self.data))} -w -t 20 -m immediate stop >/dev/null", timeout=30)
            self._started = False
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def private_redis():
    require_services()
    redis = PrivateRedis()
    try:
        yield redis.start()
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def private_postgres():
    require_services()
    postgres = PrivatePostgres()
    try:
        yield postgres.start()
    finally:
        postgres.stop()


@contextlib.contextmanager
def services(database_url=None, redis_url=None):
    """Point LiveServer (which reads DATABASE_URL and REDIS_URL from os.environ
    when it starts) at other services for a moment; the suite's own settings
    were read long ago and are not affected."""
    saved = dict(os.environ)
    try:
        for name, value in (("DATABASE_URL", database_url), ("REDIS_URL", redis_url)):
            if value:
                os.environ[name] = value
                os.environ.pop(name + "_FILE", None)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def app(database_url=None, redis_url=None, env=None):
    """The whole app (web + worker) on a fresh database; stopped whatever happens."""
    require_services()
    server = LiveServer(env={**APP_ENV, **(env or {})})
    try:
        with services(database_url, redis_url):
            server.start()
        yield server
    finally:
        server.stop()


def make_session(server):
    from bench.run import make_sessions

    return make_sessions(server, 1)[0]


def restart_web(server, down_seconds=0.5):
    """Kill daphne (SIGKILL, its whole process group: a crash, not a goodbye) and
    start it again on the same port with the same environment; its new output
    goes on at the end of the same log."""
    old = server.processes["web"]
    server._signal(old, signal.SIGKILL)
    old.wait(timeout=10)
    time.sleep(down_seconds)
    log = server._logs["web"]
    with log.open("ab") as out:
        out.write(b"\n----- restarted by the test -----\n")
        out.flush()
        server.processes["web"] = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", server.host, "-p", str(server.port), server.asgi_app],
            cwd=PROJECT_DIR, env=server.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


# ----- the browser-like client -----


@dataclass
class Post:
    after_index: int
    status: int | str  # HTTP status, or the exception's name when no answer came
    seconds: float
    saved: bool  # a 200 whose answer area did not say it was refused


@dataclass
class Room:
    """What room.js and a patient candidate do, recorded."""

    base_url: str
    session: str
    interview_id: str = ""
    csrf: str = ""
    inbox: asyncio.Queue = field(default_factory=asyncio.Queue)
    connects: int = 0  # sockets accepted (the first one included)
    closes: list = field(default_factory=list)  # close codes / errors seen
    posts: list = field(default_factory=list)  # list[Post]
    retries: int = 0  # clicks on "Retry"
    failed_events: list = field(default_factory=list)  # turn.failed messages
    questions: list = field(default_factory=list)  # turn.done indexes
    completed: bool = False
    answered: set = field(default_factory=set)  # question indexes with a saved answer
    _http: object = None
    _socket_task: object = None

    async def __aenter__(self):
        import httpx

        self._http = httpx.AsyncClient(base_url=self.base_url, cookies={"sessionid": self.session}, timeout=15)
        return self

    async def __aexit__(self, *exc):
        if self._socket_task:
            self._socket_task.cancel()
            await asyncio.gather(self._socket_task, return_exceptions=True)
        await self._http.aclose()

    async def create(self, questions=3):
        page = await self._http.get("/interviews/new/")
        page.raise_for_status()
        self.csrf = self._http.cookies.get("csrftoken")
        created = await self._http.post(
            "/interviews/new/",
            data={
                "csrfmiddlewaretoken": self.csrf, "job_role": "Site Reliability Engineer", "company": "Faults Ltd",
                "job_description": "Python, PostgreSQL, Redis, Kubernetes, incident response",
                "style": "formal", "difficulty": "medium", "length_mode": "questions",
                "question_count": str(questions), "mode": "practice",
            },
            headers={"Referer": self.base_url + "/interviews/new/"},
        )  # fmt: skip
        assert created.status_code == 302, (created.status_code, created.text[:500])
        self.interview_id = created.headers["location"].rstrip("/").split("/")[-1]
        self._socket_task = asyncio.create_task(self._socket_loop())

    async def _socket_loop(self):
        """room.js's connect(): reconnect after 0.5 s, doubling up to a cap, forever."""
        import websockets

        url = f"ws://{urlparse(self.base_url).netloc}/ws/interviews/{self.interview_id}/"
        headers = {"Cookie": f"sessionid={self.session}", "Origin": self.base_url}
        delay = 0.5
        while True:
            try:
                async with websockets.connect(url, additional_headers=headers, open_timeout=5, close_timeout=2) as ws:
                    delay = 0.5
                    self.connects += 1
                    async for raw in ws:
                        await self.inbox.put(json.loads(raw))
                    self.closes.append(ws.close_code)
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:
                self.closes.append(type(exc).__name__)
            await self.inbox.put({"event": "_closed"})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def post_answer(self, after_index):
        started = time.monotonic()
        try:
            response = await self._http.post(
                f"/interviews/{self.interview_id}/answer/",
                data={"answer": f"{ANSWER}(answer to question {after_index})", "after_index": after_index,
                      "csrfmiddlewaretoken": self.csrf},
                headers={"HX-Request": "true", "X-CSRFToken": self.csrf},
            )  # fmt: skip
        except Exception as exc:  # no answer at all (e.g. the connection dropped)
            self.posts.append(Post(after_index, type(exc).__name__, time.monotonic() - started, False))
            return False
        saved = response.status_code == 200 and "error-box" not in response.text
        if response.status_code == 200 and "already been answered" in response.text:
            saved = True  # an earlier attempt got through (e.g. its reply was lost)
        self.posts.append(Post(after_index, response.status_code, time.monotonic() - started, saved))
        if saved:
            self.answered.add(after_index)
        return saved

    async def retry(self):
        self.retries += 1
        with contextlib.suppress(Exception):
            await self._http.post(
                f"/interviews/{self.interview_id}/retry/",
                data={"csrfmiddlewaretoken": self.csrf},
                headers={"HX-Request": "true", "X-CSRFToken": self.csrf},
            )

    async def play(self, deadline, *, stop_after_answers=None, stop_on_first_token_after=None):
        """Answer every open question as it comes, until the interview ends or
        `deadline` (a time.monotonic() value). Stop early, to let the test
        inject a fault, once `stop_after_answers` answers are saved (when the
        next question is open), or at the first streamed word of the turn
        after `stop_on_first_token_after` saved answers."""
        open_question = None  # the question index the candidate is looking at
        next_send = 0.0  # when to click "Send" again after a failed post
        while time.monotonic() < deadline:
            if open_question is not None and open_question not in self.answered and time.monotonic() >= next_send:
                if stop_after_answers is not None and len(self.answered) >= stop_after_answers:
                    return "paused"
                if not await self.post_answer(open_question):
                    next_send = time.monotonic() + 1.0  # the candidate clicks "Send" again a moment later
            try:
                message = await asyncio.wait_for(self.inbox.get(), 0.5)
            except asyncio.TimeoutError:
                continue
            event = message.get("event")
            if event == "turn.token" and stop_on_first_token_after is not None:
                if len(self.answered) >= stop_on_first_token_after:
                    return "streaming"
            if event == "turn.done":
                self.questions.append(message["turn_index"])
            if event == "turn.failed":
                self.failed_events.append(message.get("message", ""))
            if event == "interview.completed":
                self.completed = True
                return "completed"
            area = message.get("answer_area")
            if area is None:
                continue
            found = AFTER_INDEX.search(area)
            if found:
                open_question = int(found.group(1))
            elif 'action="/interviews/' in area and "/retry/" in area:
                open_question = None
                await self.retry()  # the room offers "Retry": the candidate clicks it
            elif "This interview has ended" in area:
                self.completed = True
                return "completed"
            else:
                open_question = None  # the interviewer is thinking
        return "timeout"

    async def wait_for_report(self, deadline):
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                response = await self._http.get(f"/interviews/{self.interview_id}/report/status/")
                if response.status_code == 204:
                    return True
                assert "could not be built" not in response.text, response.text[:500]
            await asyncio.sleep(0.5)
        return False


def saved_answers(server, interview_id):
    """The candidate's turns in the database: {question index: text}."""
    import psycopg

    with psycopg.connect(server.database_url, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT index, text FROM interviews_turn WHERE interview_id = %s AND speaker = 'candidate' ORDER BY index",
            [uuid.UUID(interview_id)],
        ).fetchall()
    return {index - 1: text for index, text in rows}


def check_nothing_lost(server, room):
    in_db = saved_answers(server, room.interview_id)
    for post in room.posts:
        if post.status == 200 and post.saved:
            assert post.after_index in in_db, f"answer to question {post.after_index} got a 200 but is not in the database"
            assert in_db[post.after_index].startswith(ANSWER), in_db[post.after_index]
    assert set(in_db) == room.answered, (sorted(in_db), sorted(room.answered))


def explain(server, room):
    return (
        f"\nposts={room.posts}\nconnects={room.connects} closes={room.closes} retries={room.retries} "
        f"failed_events={room.failed_events} questions={room.questions}\n{server.logs(tail_chars=6000)}"
    )


def run(coro):
    return asyncio.run(coro)


# ----- (a) Redis restarts mid-interview -----


def test_interview_survives_a_redis_restart(private_redis):
    started = time.monotonic()
    deadline = started + TEST_SECONDS
    with app(redis_url=private_redis.url) as server:
        session = make_session(server)

        async def scenario():
            async with Room(server.url, session) as room:
                await room.create(questions=3)
                # Answer the first question, and cut Redis while the next one streams.
                state = await room.play(deadline, stop_on_first_token_after=1)
                assert state == "streaming", f"got {state} before the fault{explain(server, room)}"
                private_redis.shutdown()
                down_at = time.monotonic()
                # While Redis is down requests fail fast and clearly, never hang.
                import httpx

                async with httpx.AsyncClient(base_url=server.url, timeout=12) as probe:
                    t0 = time.monotonic()
                    ready = await probe.get("/readyz")
                    assert ready.status_code == 503 and time.monotonic() - t0 < 10, ready.text
                    assert ready.json()["checks"]["redis"]["ok"] is False
                await asyncio.sleep(max(0.0, 2.0 - (time.monotonic() - down_at)))
                private_redis.start()
                connects_before = room.connects
                state = await room.play(deadline)
                assert state == "completed", f"the interview did not finish after Redis came back ({state}){explain(server, room)}"
                assert room.connects > connects_before, "the socket never reconnected"
                assert await room.wait_for_report(deadline), f"no report{explain(server, room)}"
                for post in room.posts:  # every answer post got a reply (an HTTP status) in good time
                    assert isinstance(post.status, int) and post.seconds < 12, post
                return room

        room = run(scenario())
        check_nothing_lost(server, room)
        server.check_alive()
    assert time.monotonic() - started < 60


# ----- (b) PostgreSQL restarts mid-interview -----


def test_interview_survives_a_postgres_restart(private_postgres):
    started = time.monotonic()
    deadline = started + TEST_SECONDS
    with app(database_url=private_postgres.url) as server:
        session = make_session(server)

        async def scenario():
            async with Room(server.url, session) as room:
                await room.create(questions=3)
                state = await room.play(deadline, stop_on_first_token_after=1)
                assert state == "streaming", f"got {state} before the fault{explain(server, room)}"
                await asyncio.to_thread(private_postgres.restart)  # the event loop keeps reading the socket
                state = await room.play(deadline)
                assert state == "completed", f"the interview did not finish after PostgreSQL restarted ({state}){explain(server, room)}"
                assert await room.wait_for_report(deadline), f"no report (is the worker still alive?){explain(server, room)}"
                for post in room.posts:
                    assert isinstance(post.status, int) and post.seconds < 12, post
                return room

        room = run(scenario())
        check_nothing_lost(server, room)
        server.check_alive()
    assert time.monotonic() - started < 60


# ----- (c) the web process restarts -----


def test_interview_resumes_after_the_web_process_restarts():
    started = time.monotonic()
    deadline = started + TEST_SECONDS
    with app() as server:  # the suite's own PostgreSQL and Redis: nothing of theirs is restarted
        session = make_session(server)

        async def scenario():
            async with Room(server.url, session) as room:
                await room.create(questions=3)
                state = await room.play(deadline, stop_after_answers=1)  # question after the first answer is open
                assert state == "paused", f"got {state} before the restart{explain(server, room)}"
                open_before = max(room.questions)
                connects_before = room.connects
                await asyncio.to_thread(restart_web, server)
                # The socket drops; room.js reconnects once daphne is back, and the
                # `sync` event puts the same open question in front of the candidate.
                sync = None
                while time.monotonic() < deadline and sync is None:
                    message = await asyncio.wait_for(room.inbox.get(), max(0.1, deadline - time.monotonic()))
                    if message.get("event") == "sync":
                        sync = message
                assert sync is not None, f"no sync after the restart{explain(server, room)}"
                assert room.connects == connects_before + 1
                found = AFTER_INDEX.search(sync["answer_area"])
                assert found and int(found.group(1)) == open_before, sync["answer_area"][:500]
                await room.inbox.put(sync)  # let the candidate act on it
                state = await room.play(deadline)
                assert state == "completed", f"the interview did not finish after the restart ({state}){explain(server, room)}"
                assert await room.wait_for_report(deadline), f"no report{explain(server, room)}"
                assert not room.failed_events and not room.retries, explain(server, room)
                assert all(p.status == 200 and p.saved for p in room.posts), room.posts
                return room

        room = run(scenario())
        check_nothing_lost(server, room)
        assert len(room.answered) >= 3
        server.check_alive()
    assert time.monotonic() - started < 60
