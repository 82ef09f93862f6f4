"""Several web processes on one port: `manage.py runall` with WEB_PROCESSES.

With Redis (the check that refuses several web processes without it is in
test_checks.py), runall binds the port once and every daphne accepts from that very socket.
"""

import os
import secrets
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.live_server import PROJECT_DIR, free_port, require_services, wait_for_http


def _children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append((int(entry), cmdline))
    return found


def _listening_inode(port):
    """The inode of the socket listening on 127.0.0.1:port, from /proc/net/tcp."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                return inode
    return None


def _socket_inodes(pid):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


@pytest.mark.redis
def test_runall_serves_one_port_from_several_web_processes_and_stops_them_all(tmp_path):
    require_services()
    token = secrets.token_hex(4)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "Q_CLUSTER_NAME", "Q_SYNC")}
    env.update(
        DJANGO_SETTINGS_MODULE="interviewer.settings",
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        MEDIA_ROOT=str(tmp_path / "media"),
        CHANNELS_PREFIX=f"runall-{token}-ch",
        CACHE_PREFIX=f"runall-{token}-cache",
        WEB_PROCESSES="2",
        DEBUG="true",
        INTERVIEW_LLM="local",
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=PROJECT_DIR, env=env, check=True)
    port = free_port()
    log = (tmp_path / "runall.log").open("wb")
    runall = subprocess.Popen(
        [sys.executable, "manage.py", "runall", "--port", str(port)],
        cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        def check_alive():
            if runall.poll() is not None:
                raise AssertionError(f"runall exited {runall.returncode}:\n{(tmp_path / 'runall.log').read_text()}")

        wait_for_http(f"http://127.0.0.1:{port}/healthz", 90, check_alive=check_alive)
        webs = [pid for pid, cmd in _children(runall.pid) if "daphne" in cmd]
        workers = [pid for pid, cmd in _children(runall.pid) if "qcluster" in cmd]
        assert len(webs) == 2 and len(workers) == 3, _children(runall.pid)
        # Both daphne processes hold the one listening socket: either may accept.
        listening = _listening_inode(port)
        assert listening is not None
        assert all(listening in _socket_inodes(pid) for pid in webs)
        for _ in range(10):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                assert response.status == 200

        runall.send_signal(signal.SIGTERM)
        assert runall.wait(timeout=30) == 0
        for pid in webs + workers:
            assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid), f"process {pid} outlived runall"
    finally:
        if runall.poll() is None:
            os.killpg(runall.pid, signal.SIGKILL)
            runall.wait(timeout=10)
        _clean_redis(env)


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _clean_redis(env):
    import redis

    client = redis.Redis.from_url(env["REDIS_URL"])
    for prefix in (env["CHANNELS_PREFIX"], env["CACHE_PREFIX"]):
        keys = list(client.scan_iter(f"*{prefix}*"))
        if keys:
            client.delete(*keys)


def test_runall_says_clearly_when_its_port_is_taken(tmp_path):
    from lib.webserver import listen

    with listen("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        env = {**os.environ, "SQLITE_PATH": str(tmp_path / "db.sqlite3"), "DEBUG": "true", "HF_HUB_OFFLINE": "1"}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=PROJECT_DIR, env=env, check=True)
        result = subprocess.run(
            [sys.executable, "manage.py", "runall", "--port", str(port)],
            cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode != 0
    assert f"Cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


# ----- request body size through a real daphne -----


def test_daphne_answers_413_to_oversized_bodies_with_or_without_content_length(tmp_path):
    import http.client

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="interviewer.settings", DEBUG="true", SQLITE_PATH=str(tmp_path / "db.sqlite3"), HF_HUB_OFFLINE="1",
        REQUEST_MAX_BYTES="1000", SPEECH_LIVE_STT="deepgram", SPEECH_LIVE_FALLBACK="none",  # no speech models to load
    )  # fmt: skip
    log = (tmp_path / "daphne.log").open("wb")
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "interviewer.asgi:application"],
        cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip

    def post(body, **kwargs):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("POST", "/accounts/signup/", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}, **kwargs)
            return connection.getresponse().status
        finally:
            connection.close()

    try:
        def check_alive():
            if daphne.poll() is not None:
                raise AssertionError((tmp_path / "daphne.log").read_text())

        wait_for_http(f"http://127.0.0.1:{port}/healthz", 60, check_alive=check_alive)
        assert post(b"x" * 5000) == 413
        assert post(iter([b"x" * 400] * 10), encode_chunked=True) == 413
        assert post(b"email=a") == 403  # within the limit Django answers (here: no CSRF token)
    finally:
        daphne.terminate()
        daphne.wait(timeout=10)
