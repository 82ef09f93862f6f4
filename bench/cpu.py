"""CPU time of the app's processes, read from /proc (Linux), for the benchmark's per-answer figures."""

import os


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        # The command name (field 2) may hold spaces or parentheses: split after its last ")".
        return f.read().rsplit(")", 1)[1].split()


def _children(pid):
    """The live child processes of `pid`, from every one of its threads."""
    found = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return found


def cpu_seconds(pid, children=False):
    """User + system CPU seconds `pid` has used so far, or None if it is gone.

    With children=True, its descendants' too: the live ones read one by one,
    the ones that have exited (and been waited for) through cutime/cstime.
    """
    try:
        fields = _stat_fields(pid)
        ticks = int(fields[11]) + int(fields[12])
        if children:
            ticks += int(fields[13]) + int(fields[14])
    except (OSError, ValueError, IndexError):
        return None
    seconds = ticks / os.sysconf("SC_CLK_TCK")
    if children:
        seconds += sum(cpu_seconds(child, children=True) or 0.0 for child in _children(pid))
    return seconds


def web_pids(server):
    """The pids of a LiveServer's web processes ("web", "web2", …)."""
    return [p.pid for name, p in server.processes.items() if name == "web" or (name.startswith("web") and name[3:].isdigit())]


class WebCpu:
    """CPU seconds the web processes (and their children) use inside a `with` block."""

    def __init__(self, server):
        self.pids = web_pids(server)
        self.seconds = None

    def _total(self):
        return sum(cpu_seconds(pid, children=True) or 0.0 for pid in self.pids)

    def __enter__(self):
        self._before = self._total()
        return self

    def __exit__(self, *exc):
        self.seconds = self._total() - self._before


def per_answer(cpu, answers):
    """The web-process CPU figure recorded beside every turn figure."""
    return {
        "web_cpu_seconds": round(cpu.seconds, 3),
        "answers": answers,
        "web_cpu_ms_per_answer": round(cpu.seconds * 1000 / answers, 2) if answers else None,
    }
