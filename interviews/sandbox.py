"""Run a parser over untrusted bytes in a child process with CPU-time and
memory limits, so a hostile file costs the calling process only a wait.

    text = sandbox.run("interviews.resume:read_document", data, cpu_seconds=5)

The child is a fresh interpreter (`python -m interviews.sandbox`), not a fork:
a web process has threads and an event loop, which a fork would copy in an
unknown state. The child sets its limits before importing the target, reads
the bytes from stdin, calls the function and writes its JSON-serialisable
result to stdout. The function raises `Refused(message)` for a file it will
not read; the caller gets the same exception back.
"""

import importlib
import json
import logging
import math
import resource
import subprocess
import sys
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Refused(Exception):
    """The function declined the input; the message is safe to show the user."""


class Overrun(Exception):
    """The child used up its CPU time, memory or wall-clock time and was stopped."""


class Failed(Exception):
    """The child crashed for some other reason (its stderr went to the log)."""


def run(target, data, *, cpu_seconds, memory_bytes=DEFAULT_MEMORY_BYTES, timeout=None):
    """Call `target` ("module:function") on `data` in a limited child process."""
    cpu_seconds = max(1, math.ceil(cpu_seconds))
    # A loaded machine gives the child less than a core: allow for waiting.
    timeout = timeout or 2 * cpu_seconds + 2
    command = [sys.executable, "-m", "interviews.sandbox", target, str(cpu_seconds), str(int(memory_bytes))]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=timeout, cwd=PROJECT_ROOT, check=False)
    except subprocess.TimeoutExpired:
        raise Overrun(f"{target} ran for more than {timeout} s") from None
    if done.returncode < 0:  # killed by a signal: SIGXCPU or SIGKILL at the CPU limit
        raise Overrun(f"{target} was stopped by signal {-done.returncode}")
    try:
        reply = json.loads(done.stdout)
    except ValueError:
        reply = None
    if done.returncode != 0 or not isinstance(reply, dict):
        log.warning("sandboxed %s failed (exit %s): %s", target, done.returncode, done.stderr[-2000:].decode(errors="replace"))
        raise Failed(f"{target} exited with {done.returncode}")
    if "refused" in reply:
        raise Refused(reply["refused"])
    if "overrun" in reply:
        raise Overrun(f"{target} ran out of {reply['overrun']}")
    return reply["result"]


def _lower_limit(kind, soft, hard):
    """Lower a limit, never above the current hard one (which only root may raise)."""
    current = resource.getrlimit(kind)[1]
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(kind, (soft, hard))


def child_main(argv):
    target, cpu_seconds, memory_bytes = argv
    cpu_seconds, memory_bytes = int(cpu_seconds), int(memory_bytes)
    # Past the soft CPU limit the kernel sends SIGXCPU, which ends the process
    # (no core file wanted); a second later, SIGKILL.
    _lower_limit(resource.RLIMIT_CORE, 0, 0)
    _lower_limit(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1)
    _lower_limit(resource.RLIMIT_AS, memory_bytes, memory_bytes)
    # Parsers warn about every oddity in a hostile file; the parent buffers
    # stderr, so keep it to a crash's traceback.
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    data = sys.stdin.buffer.read()
    module_name, function_name = target.split(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        reply = {"result": function(data)}
    except Refused as exc:
        reply = {"refused": str(exc)}
    except MemoryError:
        reply = {"overrun": "memory"}
    sys.stdout.write(json.dumps(reply))


if __name__ == "__main__":
    # Run as __main__, this file's classes are not the ones the target imports:
    # use the real module's.
    from interviews.sandbox import child_main as _child_main

    _child_main(sys.argv[1:])
