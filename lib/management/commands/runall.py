"""Serve the whole app from one command: daphne plus the django-q2 clusters
(the default one, and `stt` and `tts` for speech work).

`make run` uses this. WEB_PROCESSES daphne processes share one listening
socket (see lib/webserver.py); with the embedded defaults (in-memory
channel layer) that must be one. On a platform that runs the Procfile, it
scales the web processes instead.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from lib import webserver


class Command(BaseCommand):
    help = "Run daphne and the background workers together until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, host, port, **options):
        # The hourly cleanup schedules (idempotent); the default cluster runs them.
        call_command("setup_schedules", verbosity=0)
        python = sys.executable
        qcluster = [python, "manage.py", "qcluster"]
        # Bound here, once: every web process accepts from this socket.
        try:
            listener = webserver.listen(host, port)
        except (OSError, ValueError) as exc:  # the port is taken, or not an address we can bind
            raise CommandError(f"Cannot serve on {host}:{port}: {exc}") from None
        web = webserver.daphne_command(listener)
        commands = {
            # A PostgreSQL pool for web processes only, as in the Procfile:
            # django-q2 forks its workers, which must not share one.
            **{f"web{i + 1}" if i else "web": (web, {"DB_POOL": os.environ.get("DB_POOL", "true")}) for i in range(settings.WEB_PROCESSES)},
            "worker": (qcluster, {}),
            "worker_stt": (qcluster, {"Q_CLUSTER_NAME": "stt"}),
            "worker_tts": (qcluster, {"Q_CLUSTER_NAME": "tts"}),
        }
        # Q_CLUSTER_NAME picks a worker's queue; only the speech workers get one.
        base_env = {k: v for k, v in os.environ.items() if k not in ("Q_CLUSTER_NAME", "DB_POOL")}
        processes = {
            name: subprocess.Popen(cmd, env={**base_env, **env}, pass_fds=(listener.fileno(),) if cmd is web else ())
            for name, (cmd, env) in commands.items()
        }
        listener.close()  # the web processes hold it now
        self.stdout.write(self.style.SUCCESS(f"Interviewer is running on http://{host}:{port}/  (Ctrl+C to stop)"))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with code {process.returncode}; stopping.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
