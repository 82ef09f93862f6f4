"""Serve the whole app from one command: daphne plus the django-q2 clusters
(the default one, and `stt` and `tts` for speech work).

`make run` uses this. With the embedded defaults (in-memory channel layer) it
must be a single web process; in production, run the Procfile's processes.
"""

import os
import signal
import subprocess
import sys
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand


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
        commands = {
            "web": ([python, "-m", "daphne", "-e", f"tcp:port={port}:interface={host}:backlog=1024", "interviewer.asgi:application"], {}),
            "worker": (qcluster, {}),
            "worker_stt": (qcluster, {"Q_CLUSTER_NAME": "stt"}),
            "worker_tts": (qcluster, {"Q_CLUSTER_NAME": "tts"}),
        }
        # Q_CLUSTER_NAME picks a worker's queue; only the speech workers get one.
        base_env = {k: v for k, v in os.environ.items() if k != "Q_CLUSTER_NAME"}
        processes = {name: subprocess.Popen(cmd, env={**base_env, **env}) for name, (cmd, env) in commands.items()}
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
