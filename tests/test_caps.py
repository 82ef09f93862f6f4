"""lib.caps: a provider's cap holds across processes, on the database and on Redis."""

import asyncio
import importlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from lib.caps import Cap, CapFull, DatabaseBackend, RedisBackend, get_cap
from lib.models import CapSlot
from tests.fakes.concurrency import ConcurrencyRecorder
from tests.redis_server import redis_for_tests

BASE_DIR = Path(settings.BASE_DIR)
# Committed writes, so the caps' other threads (the lease keeper, the async
# path's worker thread) and processes see them.
pytestmark = pytest.mark.django_db(transaction=True)

# Run in a separate Python (argv: mode, backend, cap name, limit, lease,
# Redis URL, then the mode's arguments):
# "run": take slots for `jobs` threads at once, each calling the fake
#        provider at `url` while it holds one;
# "hold": take one slot, say so, and wait to be killed;
# "probe": on "check", say whether the cap is full; on "wait", wait for a
#        slot and say how long that took.
WORKER = r"""
import sys, threading, time, urllib.request
import django
django.setup()
from django.db import connection
from lib.caps import Cap, CapFull, DatabaseBackend, RedisBackend

mode, backend, name, limit, lease, redis_url = sys.argv[1:7]
backend = RedisBackend(redis_url) if backend == "redis" else DatabaseBackend()
cap = Cap(name, int(limit), lease_seconds=float(lease), backend=backend)
if mode == "hold":
    cap.try_acquire()
    print("held", flush=True)
    threading.Event().wait()
if mode == "probe":
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "check":
            try:
                cap.try_acquire().release()
                print("free", flush=True)
            except CapFull:
                print("full", cap.in_use(), flush=True)
        elif line.strip() == "wait":
            started = time.monotonic()
            with cap.slot(timeout=10):
                print("waited", time.monotonic() - started, flush=True)
    sys.exit(0)
url, jobs = sys.argv[7:9]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
errors = []

def job():
    try:
        with cap.slot(timeout=60):
            opener.open(url, timeout=30).read()
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connection.close()

threads = [threading.Thread(target=job) for _ in range(int(jobs))]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("errors:", errors, flush=True)
sys.exit(1 if errors else 0)
"""


@pytest.fixture(scope="module")
def redis_url():
    with redis_for_tests() as url:
        yield url


@pytest.fixture(scope="module")
def sqlite_file(tmp_path_factory):
    """pytest-django's SQLite test database lives in memory, out of other
    processes' reach: migrate a file database for them instead."""
    path = tmp_path_factory.mktemp("caps") / "db.sqlite3"
    env = {**os.environ, "SQLITE_PATH": str(path), "DATABASE_URL": "", "REDIS_URL": ""}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True)
    return path


@pytest.fixture(params=["database", "redis"])
def backend(request):
    """(kind, in-process backend, environment for worker processes, Redis URL or "")."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "interviewer.settings", "REDIS_URL": ""}
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        env.update(DATABASE_URL="", SQLITE_PATH=str(request.getfixturevalue("tmp_path") / "unused.sqlite3"))
        return "redis", RedisBackend(url), env, url
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        # The workers share the suite's test database.
        env["DATABASE_URL"] = f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'])}@{db['HOST']}:{db['PORT']}/{quote(db['NAME'])}"
    else:
        env.update(DATABASE_URL="", SQLITE_PATH=str(request.getfixturevalue("sqlite_file")))
    return "database", DatabaseBackend(), env, ""


@pytest.fixture
def fake_provider():
    """A provider that takes 0.2 s per request and records how many it served at once."""
    with ConcurrencyRecorder(seconds=0.2) as provider:
        yield provider


def cap_name():
    return f"test-{uuid.uuid4().hex[:10]}"


def test_it_holds_the_cap_across_processes(backend, fake_provider):
    kind, _, env, url = backend
    provider_url = fake_provider.url
    name = cap_name()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, "run", kind, name, "5", "10", url, provider_url, "20"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [w.communicate(timeout=60)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    assert fake_provider.served == 60
    assert fake_provider.max_concurrent == 5


def test_it_frees_a_crashed_holders_slot_within_the_lease(backend):
    kind, _, env, url = backend
    lease = 2
    name = cap_name()

    def start(mode):
        return subprocess.Popen(
            [sys.executable, "-c", WORKER, mode, kind, name, "1", str(lease), url],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    holder, probe = start("hold"), start("probe")
    try:
        assert holder.stdout.readline().strip() == "held"
        assert probe.stdout.readline().strip() == "ready"
        # Alive, the holder renews its lease: the slot stays taken past the lease.
        time.sleep(lease + 0.5)
        probe.stdin.write("check\n")
        probe.stdin.flush()
        assert probe.stdout.readline().split() == ["full", "1"]
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        probe.stdin.write("wait\n")
        probe.stdin.flush()
        said, waited = probe.stdout.readline().split()
        assert said == "waited"
        assert float(waited) <= lease + 0.5
    finally:
        for process in (holder, probe):
            if process.poll() is None:
                process.kill()
            process.wait(10)
            process.stdout.close()
            if process.stdin:
                process.stdin.close()


def test_it_refuses_at_once_when_full(backend):
    _, in_process, _, _ = backend
    cap = Cap(cap_name(), 2, backend=in_process)
    held = [cap.try_acquire(), cap.try_acquire()]
    assert cap.in_use() == 2
    started = time.monotonic()
    with pytest.raises(CapFull) as refused:
        cap.try_acquire()
    assert time.monotonic() - started < 0.5
    assert "busy right now" in str(refused.value)
    assert refused.value.retryable is False
    held[0].release()
    held[0].release()  # a second release does nothing
    assert cap.in_use() == 1
    with cap.slot(timeout=1):
        assert cap.in_use() == 2
    held[1].release()
    assert cap.in_use() == 0


def test_it_gives_up_waiting_after_the_timeout(backend):
    _, in_process, _, _ = backend
    cap = Cap(cap_name(), 1, backend=in_process)
    with cap.slot():
        started = time.monotonic()
        with pytest.raises(CapFull):
            cap.acquire(timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 1.5


async def test_it_waits_for_an_async_slot_without_blocking_the_loop(backend):
    _, in_process, _, _ = backend
    cap = Cap(cap_name(), 1, backend=in_process)
    held = await cap.atry_acquire()
    with pytest.raises(CapFull):
        await cap.atry_acquire()
    ticks = 0
    got_slot = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not got_slot.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def waiter():
        async with cap.aslot(timeout=5):
            got_slot.set()
            assert await cap.ain_use() == 1

    ticking = asyncio.create_task(ticker())
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.4)
    assert not got_slot.is_set()
    await held.arelease()
    await asyncio.wait_for(waiting, 5)
    await ticking
    # The loop kept running while the waiter polled for a slot.
    assert ticks >= 20
    assert await cap.ain_use() == 0


async def test_it_stops_renewing_a_slot_after_its_time_limit(backend):
    _, in_process, _, _ = backend
    cap = Cap(cap_name(), 1, lease_seconds=0.6, backend=in_process)
    held = await cap.atry_acquire(renew_for=0.3)
    for _ in range(100):  # the lease lapses about 0.9 s on; a renewed one never would
        if await cap.ain_use() == 0:
            break
        await asyncio.sleep(0.1)
    assert await cap.ain_use() == 0
    assert not held.released
    await held.arelease()


def test_it_reads_each_providers_cap_from_settings(settings):
    settings.CAP_ASSEMBLYAI = 7
    settings.CAP_LOCAL_TTS = 3
    settings.CAP_LOCAL_STT_LIVE = 4
    settings.CAP_LOCAL_STT_BATCH = 1
    assert get_cap("assemblyai").limit == 7
    assert get_cap("local_tts").limit == 3
    assert (get_cap("local_stt_live").limit, get_cap("local_stt_batch").limit) == (4, 1)
    with pytest.raises(ValueError):
        get_cap("nobody")


async def test_it_refuses_the_blocking_api_inside_the_event_loop():
    cap = Cap(cap_name(), 1, backend=DatabaseBackend())
    with pytest.raises(RuntimeError, match=r"await cap.atry_acquire\(\)"):
        cap.try_acquire()
    with pytest.raises(RuntimeError, match=r"await cap.ain_use\(\)"):
        cap.in_use()


def test_the_migration_forgets_the_content_type_capslot_had_under_speech(db):
    migration = importlib.import_module("speech.migrations.0004_forget_capslot_content_type")
    stale = ContentType.objects.create(app_label="speech", model="capslot")
    Permission.objects.create(content_type=stale, codename="view_capslot", name="Can view cap slot")

    migration.forget_stale_content_type(apps, None)

    assert not ContentType.objects.filter(app_label="speech", model="capslot").exists()
    assert not Permission.objects.filter(content_type_id=stale.pk).exists()
    assert ContentType.objects.get_for_model(CapSlot).app_label == "lib"
