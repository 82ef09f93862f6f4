"""A Redis for tests that need one even on the SQLite pass: the suite's own
(REDIS_URL, set by `make test`'s second pass) or a throwaway redis-server."""

import os
import shutil
import subprocess
import time
from contextlib import contextmanager

import pytest

from tests.live_server import free_port


@contextmanager
def redis_for_tests():
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed and CI=true")
        pytest.skip("redis-server is not installed")
    import redis

    port = free_port()
    process = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
