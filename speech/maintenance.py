"""Keeping the speech cache and the speech table from growing forever.

prune_speech() deletes, once older than `days`:
- cached speech (MEDIA_ROOT/tts/): made again on demand if a sentence recurs;
- finished (completed or failed) SpeechTask rows.
Age is the file's modification time and the task's finish time.

The hourly job that calls it, along with the cleanup that needs to know
which interviews exist, is interviews.maintenance.prune_old_audio.
"""

import os
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from speech.models import SpeechTask

TTS_DIR = "tts"


def old_files(root, cutoff):
    """Files under `root` last modified before `cutoff` (a time.time() value)."""
    if not root.is_dir():
        return
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            try:
                if path.stat().st_mtime < cutoff:
                    yield path
            except FileNotFoundError:
                continue  # removed meanwhile


def remove_empty_dirs(root):
    if not root.is_dir():
        return
    for folder, _dirs, _files in os.walk(root, topdown=False):
        if Path(folder) != root:
            try:
                os.rmdir(folder)
            except OSError:
                pass  # not empty, or just refilled


def delete(path):
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def prune_speech(days, cutoff):
    """Delete cached speech last modified before `cutoff` (a time.time()
    value) and tasks finished more than `days` ago; how many of each."""
    media = Path(settings.MEDIA_ROOT)
    tts_files = sum(delete(path) for path in old_files(media / TTS_DIR, cutoff))
    remove_empty_dirs(media / TTS_DIR)

    before = timezone.now() - timedelta(days=days)
    finished = [SpeechTask.Status.COMPLETED, SpeechTask.Status.ERROR]
    tasks, _ = SpeechTask.objects.filter(status__in=finished).filter(
        Q(finished_at__lt=before) | Q(finished_at__isnull=True, created_at__lt=before)
    ).delete()
    return {"tts_files": tts_files, "tasks": tasks}
