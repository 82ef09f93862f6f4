"""Keeping MEDIA_ROOT and the speech tables from growing forever (hourly, django-q2).

prune_old_audio() deletes, once older than AUDIO_RETENTION_DAYS:
- cached speech (MEDIA_ROOT/tts/): made again on demand if a sentence recurs;
- uploaded answer recordings (MEDIA_ROOT/uploads/, and answers/ where
  Turn.audio may also point), clearing the Turn.audio names that pointed at them;
  the transcript, which is the answer, stays;
- finished (completed or failed) SpeechTask rows.
Age is the file's modification time and the task's finish time.

It also removes, whatever their age, the per-interview folders
(tts/<interview id>/, uploads/<interview id>/) of interviews that no longer
exist: a file a worker or an upload finished writing just after its interview
was deleted.
"""

import logging
import os
import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger(__name__)

TTS_DIR = "tts"
UPLOAD_DIRS = ("uploads", "answers")
BATCH = 500


def _old_files(root, cutoff):
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


def _remove_empty_dirs(root):
    if not root.is_dir():
        return
    for folder, _dirs, _files in os.walk(root, topdown=False):
        if Path(folder) != root:
            try:
                os.rmdir(folder)
            except OSError:
                pass  # not empty, or just refilled


def _delete(path):
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def _clear_turn_audio(names):
    from interviews.models import Turn

    cleared = 0
    for i in range(0, len(names), BATCH):
        cleared += Turn.objects.filter(audio__in=names[i : i + BATCH]).update(audio="")
    return cleared


def _orphan_folders(media):
    """Per-interview folders whose interview is gone."""
    from interviews.models import Interview

    folders = {}
    for top in (TTS_DIR, "uploads"):
        if (media / top).is_dir():
            for entry in os.scandir(media / top):
                try:
                    folders.setdefault(uuid.UUID(entry.name), []).append(Path(entry.path))
                except ValueError:
                    continue  # not an interview's folder (e.g. the old shared cache's tts/ab/)
    ids = list(folders)
    for i in range(0, len(ids), BATCH):
        for alive in Interview.objects.filter(pk__in=ids[i : i + BATCH]).values_list("pk", flat=True):
            del folders[alive]
    return [path for paths in folders.values() for path in paths if path.is_dir()]


def prune_old_audio(days=None):
    from speech.models import SpeechTask

    days = settings.AUDIO_RETENTION_DAYS if days is None else days
    media = Path(settings.MEDIA_ROOT)
    cutoff = time.time() - days * 86400
    summary = {"tts_files": 0, "upload_files": 0, "turns_cleared": 0, "tasks": 0, "orphan_folders": 0}

    for folder in _orphan_folders(media):
        shutil.rmtree(folder, ignore_errors=True)
        summary["orphan_folders"] += 1

    for path in _old_files(media / TTS_DIR, cutoff):
        summary["tts_files"] += _delete(path)
    _remove_empty_dirs(media / TTS_DIR)

    for folder in UPLOAD_DIRS:
        deleted = [path.relative_to(media).as_posix() for path in _old_files(media / folder, cutoff) if _delete(path)]
        summary["upload_files"] += len(deleted)
        summary["turns_cleared"] += _clear_turn_audio(deleted)
        _remove_empty_dirs(media / folder)

    before = timezone.now() - timedelta(days=days)
    finished = [SpeechTask.Status.COMPLETED, SpeechTask.Status.ERROR]
    summary["tasks"], _ = SpeechTask.objects.filter(status__in=finished).filter(
        Q(finished_at__lt=before) | Q(finished_at__isnull=True, created_at__lt=before)
    ).delete()

    if any(summary.values()):
        log.info("pruned old audio: %s", summary)
    return summary
