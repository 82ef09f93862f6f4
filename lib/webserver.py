"""Several daphne processes on one listening socket, one per CPU core.

A daphne process runs one event loop, and Python runs one thread at a time, so
one process keeps one core busy at most. The parent binds the port once and
starts each daphne with `--fd`, so they all accept from the same socket and the
kernel spreads new connections across them. An interview's events reach every
process through the channel layer, so more than one process needs Redis
(`interviewer.E003` says so at start-up).
"""

import socket
import sys

BACKLOG = 1024  # a burst of new connections waits in the kernel, not in SYN retries


def listen(host, port):
    """A bound, listening IPv4 TCP socket that child processes can inherit.

    IPv4 only: daphne adopts an inherited socket as AF_INET.
    """
    if ":" in host:
        raise ValueError(f"HOST must be an IPv4 address or name, not {host!r}")
    sock = socket.create_server((host, port), backlog=BACKLOG)
    sock.set_inheritable(True)
    return sock


def daphne_command(sock, asgi_app="interviewer.asgi:application"):
    """The command for one daphne serving `asgi_app` on the inherited socket
    (pass `pass_fds=(sock.fileno(),)` to subprocess.Popen)."""
    return [sys.executable, "-m", "daphne", "--fd", str(sock.fileno()), asgi_app]
