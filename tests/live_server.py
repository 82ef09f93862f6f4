"""Run the real app in subprocesses, the way production does, for end-to-end tests.

    with LiveServer() as server:
        httpx.get(server.url + "/accounts/login/")

What starts, in order:

1. the Procfile's release step, `manage.py migrate` (and `setup_schedules`),
   against a fresh database: a SQLite file in a temporary directory, or, when
   DATABASE_URL is set, a new database `interviewer_e2e_<random>` created on
   that PostgreSQL server (and dropped again on exit);
2. daphne on 127.0.0.1 and a free port (HTTP + WebSocket), and
3. `manage.py qcluster`, the django-q2 worker that builds reports (and, if
   asked for, the speech clusters: `clusters=LiveServer.ALL_CLUSTERS`).

With REDIS_URL set, the channel layer and the cache use Redis, with a
CHANNELS_PREFIX and CACHE_PREFIX of this server's own. The django-q2 queue is
in the (fresh) database unless Q_BROKER=redis; then its Redis key is named
after the cluster ("interviewer"), the same for every copy of the app, so the
server takes an empty Redis logical database of its own (see `redis_db`) lest
another cluster take tasks meant for a different database.

Without REDIS_URL the channel layer is in-memory: fine, because there is one
daphne process; the worker only writes to the database and pages poll it.

Each process's stdout and stderr go to a log file in the temporary directory;
`logs()` returns them, and every error this module raises includes them.
Processes run in their own session: each gets SIGTERM, and if it has not
exited 10 s later its whole process group (qcluster's workers too) gets SIGKILL.
"""

import atexit
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse, urlunparse

PROJECT_DIR = Path(__file__).resolve().parent.parent

__all__ = ["LiveServer", "LiveServerError", "free_port"]


class LiveServerError(RuntimeError):
    """The app did not start, or one of its processes died."""


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _setting_from_env(name, environ):
    """Read NAME the way interviewer/settings.py does: NAME_FILE wins over NAME."""
    path = environ.get(name + "_FILE")
    if path:
        return Path(path).read_text().strip()
    return environ.get(name, "")


def _with_path(url, path):
    return urlunparse(urlparse(url)._replace(path=path))


def require_services():
    """Skip without PostgreSQL + Redis; fail instead under CI=true with REQUIRE_SERVICES=true."""
    import pytest

    missing = []
    if not _setting_from_env("DATABASE_URL", os.environ).startswith(("postgres://", "postgresql://")):
        missing.append("DATABASE_URL does not point at PostgreSQL")
    if not _setting_from_env("REDIS_URL", os.environ):
        missing.append("REDIS_URL is not set")
    if missing:
        reason = "; ".join(missing) + " (run with scripts/test-with-services.sh)"
        if os.environ.get("CI") == "true" and os.environ.get("REQUIRE_SERVICES") == "true":
            pytest.fail(f"{reason} — CI=true and REQUIRE_SERVICES=true: a missing service fails the run", pytrace=False)
        pytest.skip(reason)


def wait_for_http(url, timeout, check_alive=lambda: None, logs=lambda: ""):
    """Until `url` answers (any status below 500); check_alive() raises if the server died."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                response.read()
            break
        except urllib.error.HTTPError as exc:
            # It answered; a 500 would show in every test, so say so now.
            if exc.code >= 500:
                raise LiveServerError(f"GET {url} answered {exc.code}\n{logs()}") from None
            break
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
            time.sleep(0.1)
    else:
        raise LiveServerError(f"{url} did not answer within {timeout} s ({last_error})\n{logs()}")
    time.sleep(0.2)
    check_alive()


class LiveServer:
    """The app's web and worker processes on a fresh database.

    Arguments:
        env: extra environment variables for every process (they win over
            the defaults below, e.g. {"INTERVIEW_LOCAL_STREAM_DELAY": "0"}).
        clusters: the django-q2 clusters to run, as the Procfile does:
            "default" (`manage.py qcluster`, builds reports) and any of the
            alternative ones, e.g. "stt", "tts" (`Q_CLUSTER_NAME=<name>
            manage.py qcluster`, speech work). () runs no worker.
        startup_timeout: seconds to wait for the HTTP port to answer.
        redis_db: with REDIS_URL set, which Redis logical database to use:
            "auto" (default) keeps the URL's, except with Q_BROKER=redis, when
            it picks an empty one of 1–15 (falling back to the URL's own); an
            int forces one; None always keeps the URL's.
        keep_tmp: keep the temporary directory (database, logs) after stop.
        host: the address daphne binds to.
        asgi_app: the ASGI application daphne serves ("module:attribute").
        web_processes: how many daphne processes serve the port. One binds it
            itself; more share a socket bound here, as `manage.py runall`
            does (processes "web", "web2", …).
        web_env: extra environment variables for the web processes only
            (e.g. {"DB_POOL": "true"}, as the Procfile sets).
    """

    ALL_CLUSTERS = ("default", "stt", "tts")  # as in the Procfile

    def __init__(
        self,
        env=None,
        *,
        clusters=("default",),
        startup_timeout=60,
        redis_db="auto",
        keep_tmp=False,
        host="127.0.0.1",
        asgi_app="interviewer.asgi:application",
        web_processes=1,
        web_env=None,
    ):
        self.extra_env = dict(env or {})
        self.web_processes = web_processes
        self.web_env = dict(web_env or {})
        self.asgi_app = asgi_app
        self.clusters = tuple(clusters)
        self.startup_timeout = startup_timeout
        self.redis_db = redis_db
        self.keep_tmp = keep_tmp
        self.host = host
        self.port = None
        self.tmpdir = None
        self.env = None
        self.database_url = ""  # the PostgreSQL database created for this server, if any
        self.redis_url = ""
        self.processes = {}  # name -> Popen
        self._logs = {}  # name -> Path
        self._admin_url = ""  # where to connect to drop the PostgreSQL database
        self._redis_prefixes = ()
        self._started = False

    # ----- public -----

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def url_for(self, path):
        return self.url + ("" if path.startswith("/") else "/") + path

    def start(self):
        if self._started:
            raise LiveServerError("already started")
        self._started = True
        atexit.register(self.stop)
        try:
            self.tmpdir = Path(tempfile.mkdtemp(prefix="interviewer-e2e-"))
            (self.tmpdir / "media").mkdir()
            self.port = free_port(self.host)
            self.env = self._environment()
            self._release()
            self._start_web()
            for cluster in self.clusters:
                name = "worker" if cluster == "default" else f"worker_{cluster}"
                env = None if cluster == "default" else {**self.env, "Q_CLUSTER_NAME": cluster}
                self._spawn(name, [sys.executable, "manage.py", "qcluster"], env=env)
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Stop every process (SIGTERM, then SIGKILL) and drop what was created. Safe to call twice."""
        atexit.unregister(self.stop)
        for process in self.processes.values():
            # The leader only: qcluster stops its own workers on SIGTERM, and
            # takes much longer to stop when each of them is signalled too.
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for name, process in list(self.processes.items()):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # Still not reaped, so the group id is still ours to signal.
                self._signal(process, signal.SIGKILL)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    print(f"warning: {name} (pid {process.pid}) did not stop", file=sys.stderr)
        self.processes = {}
        if self._admin_url and self.database_url:
            self._drop_postgres_database()
        if self.redis_url:
            self._clean_redis()
        if self.tmpdir and not self.keep_tmp:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def logs(self, tail_chars=20_000):
        """Every process's captured output (the last `tail_chars` characters of each)."""
        parts = []
        for name, path in self._logs.items():
            try:
                text = path.read_text(errors="replace")
            except OSError:
                text = "(no log)"
            if len(text) > tail_chars:
                text = "…" + text[-tail_chars:]
            process = self.processes.get(name)
            state = "running" if process and process.poll() is None else f"exited {process.returncode}" if process else "stopped"
            parts.append(f"----- {name} ({state}) -----\n{text.rstrip()}")
        return "\n".join(parts) or "(no processes started)"

    def log_marks(self):
        """Where each log ends now; pass to errors_since() later."""
        return {name: path.stat().st_size if path.exists() else 0 for name, path in self._logs.items()}

    def errors_since(self, marks):
        """Server-side errors (tracebacks and ERROR log lines) logged since `marks`, as text; "" if none."""
        found = []
        for name, path in self._logs.items():
            try:
                with path.open("rb") as f:
                    f.seek(marks.get(name, 0))
                    text = f.read().decode(errors="replace")
            except OSError:
                continue
            if "Traceback (most recent call last)" in text or re.search(r"^\S+ \S+ (ERROR|CRITICAL) ", text, re.M):
                found.append(f"----- {name} -----\n{text[-8000:].rstrip()}")
        return "\n".join(found)

    def check_alive(self):
        """Raise LiveServerError, with the logs, if any process has exited."""
        dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise LiveServerError(f"app process(es) exited: {dead}\n{self.logs()}")

    # ----- environment and database -----

    def _environment(self):
        env = dict(os.environ)
        env.pop("Q_SYNC", None)
        env.pop("Q_CLUSTER_NAME", None)
        env.update(
            DJANGO_SETTINGS_MODULE="interviewer.settings",
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
            DEBUG="true",
            LOG_FORMAT="plain",  # for people reading a failed test's logs
            INTERVIEW_LLM="local",
            INTERVIEW_LOCAL_STREAM_DELAY="0.005",
            HF_HUB_OFFLINE="1",
            MEDIA_ROOT=str(self.tmpdir / "media"),
        )
        token = secrets.token_hex(4)
        database_url = _setting_from_env("DATABASE_URL", os.environ)
        if database_url:
            env["DATABASE_URL"] = self._create_postgres_database(database_url, f"interviewer_e2e_{token}")
            env.pop("SQLITE_PATH", None)
        else:
            env.pop("DATABASE_URL", None)
            env["SQLITE_PATH"] = str(self.tmpdir / "db.sqlite3")
        redis_url = _setting_from_env("REDIS_URL", os.environ)
        if redis_url:
            self.redis_url = self._isolated_redis_url(redis_url)
            env.update(REDIS_URL=self.redis_url, CHANNELS_PREFIX=f"e2e-{token}-ch", CACHE_PREFIX=f"e2e-{token}-cache")
            self._redis_prefixes = (env["CHANNELS_PREFIX"], env["CACHE_PREFIX"])
        else:
            env.pop("REDIS_URL", None)
        env.update(self.extra_env)
        # settings.py reads NAME_FILE before NAME: a stray one must not override what is set here.
        for name in [k for k in env if not k.endswith("_FILE")]:
            if name + "_FILE" not in self.extra_env:
                env.pop(name + "_FILE", None)
        return env

    def env_value(self, name, default=""):
        """NAME as the app's processes will see it."""
        return self.extra_env.get(name, _setting_from_env(name, os.environ) or default)

    def _create_postgres_database(self, url, name):
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise LiveServerError(f"could not create database {name} on the server in DATABASE_URL: {exc}") from exc
        self._admin_url = url
        self.database_url = _with_path(url, "/" + name)
        return self.database_url

    def _drop_postgres_database(self):
        import psycopg
        from psycopg import sql

        name = urlparse(self.database_url).path.lstrip("/")
        try:
            with psycopg.connect(self._admin_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            print(f"warning: could not drop test database {name}: {exc}", file=sys.stderr)
        self.database_url = ""

    def _isolated_redis_url(self, url):
        import redis

        try:
            client = redis.Redis.from_url(url, socket_timeout=5)
            client.ping()
        except redis.RedisError as exc:
            raise LiveServerError(f"REDIS_URL is set but Redis is unreachable: {exc}") from exc
        if self.redis_db is None:
            return url
        if self.redis_db == "auto" and self.env_value("Q_BROKER", "orm") != "redis":
            return url  # the queue is in the (fresh) database; unique prefixes isolate the rest
        if self.redis_db != "auto":
            return _with_path(url, f"/{int(self.redis_db)}")
        try:
            databases = int(client.config_get("databases").get("databases", 16))
        except redis.RedisError:
            databases = 16
        current = urlparse(url).path.lstrip("/") or "0"
        candidates = [n for n in range(1, databases) if str(n) != current]
        random.shuffle(candidates)
        for n in candidates:
            try:
                if redis.Redis.from_url(_with_path(url, f"/{n}"), socket_timeout=5).dbsize() == 0:
                    return _with_path(url, f"/{n}")
            except redis.RedisError:
                break
        return url

    def _clean_redis(self):
        import redis

        try:
            client = redis.Redis.from_url(self.redis_url, socket_timeout=5)
            for prefix in self._redis_prefixes:
                # Django's cache keys are "<prefix>:<version>:<key>"; channels' start with the prefix too.
                keys = list(client.scan_iter(match=f"{prefix}*", count=500))
                if keys:
                    client.delete(*keys)
        except redis.RedisError:
            pass

    # ----- processes -----

    def _release(self):
        """The Procfile's release step: migrate, then register the periodic schedules."""
        self._manage("migrate", "--noinput", "-v", "1")
        if (PROJECT_DIR / "interviews/management/commands/setup_schedules.py").exists():
            self._manage("setup_schedules")

    def _manage(self, *args, timeout=180):
        name = args[0]
        log = self.tmpdir / f"{name}.log"
        self._logs[name] = log
        with log.open("wb") as out:
            try:
                result = subprocess.run(
                    [sys.executable, "manage.py", *args],
                    cwd=PROJECT_DIR,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                raise LiveServerError(f"manage.py {name} took longer than {timeout} s\n{self.logs()}") from None
        if result.returncode != 0:
            raise LiveServerError(f"manage.py {name} failed with code {result.returncode}\n{self.logs()}")

    def _start_web(self):
        env = {**self.env, **self.web_env}
        if self.web_processes == 1:
            self._spawn("web", [sys.executable, "-m", "daphne", "-e", f"tcp:port={self.port}:interface={self.host}:backlog=1024", self.asgi_app], env=env)
            return
        from lib.webserver import daphne_command, listen

        with listen(self.host, self.port) as listener:
            for i in range(self.web_processes):
                self._spawn(f"web{i + 1}" if i else "web", daphne_command(listener, self.asgi_app), env=env, pass_fds=(listener.fileno(),))

    def _spawn(self, name, command, env=None, pass_fds=()):
        log = self.tmpdir / f"{name}.log"
        self._logs[name] = log
        with log.open("wb") as out:
            self.processes[name] = subprocess.Popen(
                command,
                cwd=PROJECT_DIR,
                env=env or self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=pass_fds,
            )

    @staticmethod
    def _signal(process, sig):
        """Signal the process group this process leads (it was started in a new session)."""
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _wait_until_up(self):
        self.wait_for_http(self.url_for("/accounts/login/"), self.startup_timeout)

    def wait_for_http(self, url, timeout):
        """Until `url` answers (any status below 500), checking that no app process died."""
        wait_for_http(url, timeout, check_alive=self.check_alive, logs=self.logs)
