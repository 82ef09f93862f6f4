"""Caps on concurrent calls to each speech provider, across every process and host.

    cap = get_cap("assemblyai")
    with cap.slot(timeout=60): ...             # wait up to 60 s for a free slot
    async with cap.aslot(timeout=60): ...
    slot = await cap.atry_acquire()            # live streams: CapFull at once when full
    slot = await cap.atry_acquire(renew_for=900)  # the lease lapses 900 s on, held or not
    ...
    await slot.arelease()                      # (or slot.release() in sync code)
    cap.in_use()                               # for metrics

A slot is a lease. While it is held, a thread in the holding process renews it
every CAP_LEASE_SECONDS / 3, so the slots of a process that dies (SIGKILL, out
of memory, a lost host) free themselves within CAP_LEASE_SECONDS. A slot taken
with `renew_for` is renewed only that long: whatever its holder does, it frees
itself within CAP_LEASE_SECONDS after that.

With REDIS_URL the slots live in Redis: a sorted set of holder ids scored by
lease expiry, changed only by Lua scripts (drop expired holders, then add if
under the limit) timed by the Redis server's clock. Without it they live in
the database as CapSlot rows 0..limit-1, claimed with a conditional UPDATE, so
the cap also holds between the web and worker processes on SQLite; there the
hosts' clocks must agree to well within the lease.

Don't take a slot inside transaction.atomic(): the claim must be visible to
the other processes at once.
"""

import asyncio
import logging
import os
import random
import socket
import threading
import time
import uuid
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from lib.models import CapSlot

log = logging.getLogger(__name__)

# Provider name -> the setting holding its cap.
CAP_SETTINGS = {
    "assemblyai": "CAP_ASSEMBLYAI",
    "polly": "CAP_POLLY",
    "deepgram": "CAP_DEEPGRAM",
    # Live streams of the local engine across every host (the web processes),
    # and uploads the `stt` cluster transcribes: separate, so neither starves
    # the other.
    "local_stt_live": "CAP_LOCAL_STT_LIVE",
    "local_stt_batch": "CAP_LOCAL_STT_BATCH",
    "local_tts": "CAP_LOCAL_TTS",
    "serper": "CAP_SERPER",  # web search for the report's resources
    "llm": "CAP_LLM",  # the chat model: interviewer, coach and report calls
}
# Names safe to show the candidate.
PROVIDER_LABELS = {
    "assemblyai": "Transcription (AssemblyAI)",
    "polly": "The interviewer's voice (Amazon Polly)",
    "deepgram": "Live transcription (Deepgram)",
    "local_stt_live": "Live transcription",
    "local_stt_batch": "Transcription",
    "local_tts": "The interviewer's voice",
    "serper": "Web search",
    "llm": "The interviewer model",
}
REDIS_KEY_PREFIX = "interviewer:cap:"
# A waiting acquirer retries after a random pause in [POLL_MIN, d], with d
# doubling up to POLL_MAX: quick when a slot frees soon, gentle when not.
POLL_MIN_SECONDS = 0.02
POLL_MAX_SECONDS = 0.1


def provider_label(name):
    return PROVIDER_LABELS.get(name, name)


class CapFull(Exception):
    """Every slot of the cap is taken (at once, or until the timeout). The
    message is safe to show the candidate."""

    # As on speech's errors: retrying at once would only find the cap full again.
    retryable = False


def get_cap(name):
    """The cap for a provider name in CAP_SETTINGS, with its limit from settings."""
    try:
        setting = CAP_SETTINGS[name]
    except KeyError:
        raise ValueError(f"No cap is configured for {name!r}; add it to lib.caps.CAP_SETTINGS") from None
    return Cap(name, getattr(settings, setting))


def user_stream_cap(user_pk):
    """One live stream per user, across every process and host: a user's
    second tab or socket can never hold a second provider slot."""
    return Cap(f"live_stream_user:{user_pk}", 1)


def default_backend():
    if settings.REDIS_URL:
        return RedisBackend(settings.REDIS_URL)
    return DatabaseBackend()


class Cap:
    def __init__(self, name, limit, *, lease_seconds=None, backend=None):
        if limit < 1:
            raise ValueError(f"The cap for {name!r} must be at least 1, got {limit}")
        self.name = name
        self.limit = limit
        self.lease_seconds = lease_seconds if lease_seconds is not None else settings.CAP_LEASE_SECONDS
        self.backend = backend or default_backend()

    def __repr__(self):
        return f"<Cap {self.name} limit={self.limit} {type(self.backend).__name__}>"

    def _new_slot(self, renew_for=None):
        slot = Slot(self, f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}")
        if renew_for is not None:
            slot.renew_until = time.monotonic() + renew_for
        return slot

    def _full(self, waited=None):
        if waited is not None:
            log.warning("no free %s slot (of %d) after %g s", self.name, self.limit, waited)
        return CapFull(f"{provider_label(self.name)} is busy right now; try again in a minute.")

    # Sync API: worker processes and threads.

    def try_acquire(self):
        """A held Slot, or CapFull at once."""
        _refuse_in_event_loop("try_acquire")
        slot = self._new_slot()
        if not self.backend.acquire(self.name, slot.holder, self.limit, self.lease_seconds):
            raise self._full()
        slot._held()
        return slot

    def acquire(self, timeout=None):
        """A held Slot, waiting up to `timeout` seconds (None: for ever), else CapFull."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ceiling = POLL_MIN_SECONDS
        while True:
            try:
                return self.try_acquire()
            except CapFull:
                if deadline is not None and time.monotonic() >= deadline:
                    raise self._full(timeout) from None
            time.sleep(_pause(ceiling, deadline))
            ceiling = min(ceiling * 2, POLL_MAX_SECONDS)

    @contextmanager
    def slot(self, timeout=None):
        held = self.acquire(timeout)
        try:
            yield held
        finally:
            held.release()

    def in_use(self):
        _refuse_in_event_loop("in_use")
        return self.backend.in_use(self.name, self.limit)

    # Async API: consumers. Never blocks the event loop.

    async def atry_acquire(self, renew_for=None):
        """A held Slot, or CapFull at once. With `renew_for`, the lease is
        renewed for that many seconds only (a time limit that holds even if
        the holder never releases)."""
        # Cancelled mid-call, a slot it may just have taken is never renewed
        # and frees itself within the lease.
        slot = self._new_slot(renew_for)
        if not await self.backend.aacquire(self.name, slot.holder, self.limit, self.lease_seconds):
            raise self._full()
        slot._held()
        return slot

    async def aacquire(self, timeout=None, renew_for=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        ceiling = POLL_MIN_SECONDS
        while True:
            try:
                return await self.atry_acquire(renew_for)
            except CapFull:
                if deadline is not None and time.monotonic() >= deadline:
                    raise self._full(timeout) from None
            await asyncio.sleep(_pause(ceiling, deadline))
            ceiling = min(ceiling * 2, POLL_MAX_SECONDS)

    @asynccontextmanager
    async def aslot(self, timeout=None):
        held = await self.aacquire(timeout)
        try:
            yield held
        finally:
            await held.arelease()

    async def ain_use(self):
        return await self.backend.ain_use(self.name, self.limit)


def _refuse_in_event_loop(method):
    """The sync API blocks (database locks, waiting for a slot): in a
    coroutine it would stall every other connection on the loop. Refuse it
    there on both backends alike, rather than only on the database one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"Cap.{method}() blocks; in async code use `await cap.a{method}()`")


def _pause(ceiling, deadline):
    pause = random.uniform(POLL_MIN_SECONDS, ceiling)
    if deadline is not None:
        pause = min(pause, max(0.0, deadline - time.monotonic()))
    return pause


class Slot:
    """A held slot. Release it exactly once (extra calls do nothing); it is
    also a context manager, sync or async."""

    def __init__(self, cap, holder):
        self.cap = cap
        self.holder = holder
        self.released = False
        # Set when a renewal found the lease gone (the process stalled for
        # longer than the lease and another holder may have the slot).
        self.lost = False
        self.renew_at = 0.0
        self.renew_until = None  # time.monotonic() after which the lease is left to lapse

    def __repr__(self):
        return f"<Slot {self.cap.name} {self.holder}{' released' if self.released else ''}>"

    def _held(self):
        _keeper.add(self)

    def release(self):
        if self.released:
            return
        _refuse_in_event_loop("release")
        self.released = True
        _keeper.discard(self)
        try:
            self.cap.backend.release(self.cap.name, self.holder)
        except Exception:
            # No longer renewed, the slot frees itself within the lease.
            log.warning("could not release the %s slot held by %s", self.cap.name, self.holder, exc_info=True)

    async def arelease(self):
        if self.released:
            return
        self.released = True
        _keeper.discard(self)
        try:
            # Shielded: a socket's disconnect cancels the task releasing its
            # slot, and a lost release would hold the slot for a whole lease.
            await asyncio.shield(self.cap.backend.arelease(self.cap.name, self.holder))
        except Exception:
            log.warning("could not release the %s slot held by %s", self.cap.name, self.holder, exc_info=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.arelease()


class _LeaseKeeper:
    """One daemon thread per process renews every slot the process holds."""

    def __init__(self):
        self.slots = set()
        self.condition = threading.Condition()
        self.thread = None
        self.pid = None

    def add(self, slot):
        slot.renew_at = time.monotonic() + slot.cap.lease_seconds / 3
        with self.condition:
            if self.pid != os.getpid():
                # A forked child: the parent's slots and thread are not ours.
                self.slots = set()
                self.thread = None
            self.slots.add(slot)
            if self.thread is None or not self.thread.is_alive():
                self.pid = os.getpid()
                self.thread = threading.Thread(target=self.run, name="cap-lease-keeper", daemon=True)
                self.thread.start()
            self.condition.notify()

    def discard(self, slot):
        with self.condition:
            self.slots.discard(slot)

    def run(self):
        while True:
            with self.condition:
                while not self.slots:
                    self.condition.wait()
                now = time.monotonic()
                due = [s for s in self.slots if s.renew_at <= now]
                if not due:
                    self.condition.wait(min(s.renew_at for s in self.slots) - now)
                    continue
            for slot in due:
                self.renew(slot)
            if any(isinstance(s.cap.backend, DatabaseBackend) for s in due):
                try:
                    close_old_connections()
                except Exception:
                    log.warning("could not close the lease keeper's database connection", exc_info=True)

    def renew(self, slot):
        cap = slot.cap
        if slot.renew_until is not None and time.monotonic() >= slot.renew_until:
            # Past its time limit: a holder that never let go (a stuck stream)
            # loses the slot within the lease instead of keeping it for ever.
            self.discard(slot)
            log.warning("the %s slot held by %s reached its time limit; its lease will lapse", cap.name, slot.holder)
            return
        slot.renew_at = time.monotonic() + cap.lease_seconds / 3
        try:
            kept = cap.backend.renew(cap.name, slot.holder, cap.lease_seconds)
        except Exception:
            # Try again soon; the lease lasts three renewal periods.
            log.warning("could not renew the %s slot held by %s", cap.name, slot.holder, exc_info=True)
            slot.renew_at = time.monotonic() + min(1.0, cap.lease_seconds / 6)
            return
        if not kept and not slot.released:
            slot.lost = True
            self.discard(slot)
            log.warning("the %s slot held by %s expired before it was renewed", cap.name, slot.holder)


_keeper = _LeaseKeeper()


class DatabaseBackend:
    def _ensure_rows(self, name, limit):
        CapSlot.objects.bulk_create([CapSlot(name=name, slot=i) for i in range(limit)], ignore_conflicts=True)

    def acquire(self, name, holder, limit, lease_seconds):
        now = timezone.now()
        free = Q(holder="") | Q(expires_at__lt=now)
        rows = CapSlot.objects.filter(free, name=name, slot__lt=limit)
        candidates = list(rows.values_list("slot", flat=True))
        if not candidates and CapSlot.objects.filter(name=name, slot__lt=limit).count() < limit:
            self._ensure_rows(name, limit)
            candidates = list(rows.values_list("slot", flat=True))
        # Random order, so concurrent acquirers rarely race for the same row.
        random.shuffle(candidates)
        expires_at = now + timedelta(seconds=lease_seconds)
        for slot in candidates:
            if rows.filter(slot=slot).update(holder=holder, expires_at=expires_at):
                return True
        return False

    def renew(self, name, holder, lease_seconds):
        # Safe even just after expiry: while the row still names this holder,
        # no one else has claimed it.
        expires_at = timezone.now() + timedelta(seconds=lease_seconds)
        return CapSlot.objects.filter(name=name, holder=holder).update(expires_at=expires_at) > 0

    def release(self, name, holder):
        CapSlot.objects.filter(name=name, holder=holder).update(holder="", expires_at=None)

    def in_use(self, name, limit):
        rows = CapSlot.objects.filter(name=name, slot__lt=limit, expires_at__gte=timezone.now())
        return rows.exclude(holder="").count()

    async def aacquire(self, name, holder, limit, lease_seconds):
        return await database_sync_to_async(self.acquire)(name, holder, limit, lease_seconds)

    async def arelease(self, name, holder):
        await database_sync_to_async(self.release)(name, holder)

    async def ain_use(self, name, limit):
        return await database_sync_to_async(self.in_use)(name, limit)


# KEYS[1]: the sorted set. ARGV: holder, limit, lease in ms. The server's
# clock decides expiry, so hosts with skewed clocks still agree.
ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < 2 * lease then
  redis.call('PEXPIRE', KEYS[1], 2 * lease)
end
return 1
"""
# Renew only a holder still in the set: once removed, its slot may be taken.
RENEW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < 2 * lease then
  redis.call('PEXPIRE', KEYS[1], 2 * lease)
end
return 1
"""
IN_USE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""

_redis_clients = {}  # (url, pid) -> {"client": …, script name: Script}
_redis_lock = threading.Lock()


class RedisBackend:
    def __init__(self, url):
        self.url = url

    def _scripts(self):
        """The process's client's scripts (EVALSHA, loaded on first use)."""
        import redis

        key = (self.url, os.getpid())
        with _redis_lock:
            scripts = _redis_clients.get(key)
            if scripts is None:
                client = redis.Redis.from_url(self.url)
                scripts = _redis_clients[key] = {
                    "client": client,
                    "acquire": client.register_script(ACQUIRE_LUA),
                    "renew": client.register_script(RENEW_LUA),
                    "in_use": client.register_script(IN_USE_LUA),
                }
            return scripts

    def _async_client(self):
        # A redis.asyncio client belongs to one event loop; a fresh one per
        # call keeps it simple (these calls are rare: stream start and end).
        import redis.asyncio

        return redis.asyncio.Redis.from_url(self.url)

    def acquire(self, name, holder, limit, lease_seconds):
        args = [holder, limit, int(lease_seconds * 1000)]
        return bool(self._scripts()["acquire"](keys=[REDIS_KEY_PREFIX + name], args=args))

    def renew(self, name, holder, lease_seconds):
        args = [holder, int(lease_seconds * 1000)]
        return bool(self._scripts()["renew"](keys=[REDIS_KEY_PREFIX + name], args=args))

    def release(self, name, holder):
        self._scripts()["client"].zrem(REDIS_KEY_PREFIX + name, holder)

    def in_use(self, name, limit):
        return min(limit, int(self._scripts()["in_use"](keys=[REDIS_KEY_PREFIX + name])))

    async def aacquire(self, name, holder, limit, lease_seconds):
        args = [holder, limit, int(lease_seconds * 1000)]
        async with self._async_client() as client:
            return bool(await client.eval(ACQUIRE_LUA, 1, REDIS_KEY_PREFIX + name, *args))

    async def arelease(self, name, holder):
        async with self._async_client() as client:
            await client.zrem(REDIS_KEY_PREFIX + name, holder)

    async def ain_use(self, name, limit):
        async with self._async_client() as client:
            return min(limit, int(await client.eval(IN_USE_LUA, 1, REDIS_KEY_PREFIX + name)))
