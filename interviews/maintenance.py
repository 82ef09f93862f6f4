"""Keeping MEDIA_ROOT and the speech tables from growing forever (hourly, django-q2).

prune_old_audio() deletes, once older than AUDIO_RETENTION_DAYS:
- uploaded answer recordings (MEDIA_ROOT/uploads/, and answers/ where
  Turn.audio may also point), clearing the Turn.audio names that pointed at them;
  the transcript, which is the answer, stays;
- cached speech and finished SpeechTask rows (speech.maintenance.prune_speech).
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
from pathlib import Path

from django.conf import settings

from interviews.models import Interview, Turn
from speech.maintenance import TTS_DIR, delete, old_files, prune_speech, remove_empty_dirs

log = logging.getLogger(__name__)

UPLOAD_DIRS = ("uploads", "answers")
BATCH = 500


def _clear_turn_audio(names):
    cleared = 0
    for i in range(0, len(names), BATCH):
        cleared += Turn.objects.filter(audio__in=names[i : i + BATCH]).update(audio="")
    return cleared


def _orphan_folders(media):
    """Per-interview folders whose interview is gone."""
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
    days = settings.AUDIO_RETENTION_DAYS if days is None else days
    media = Path(settings.MEDIA_ROOT)
    cutoff = time.time() - days * 86400
    summary = {"tts_files": 0, "upload_files": 0, "turns_cleared": 0, "tasks": 0, "orphan_folders": 0}

    # The orphans first: their files, young or old, go with their folder.
    for folder in _orphan_folders(media):
        shutil.rmtree(folder, ignore_errors=True)
        summary["orphan_folders"] += 1

    summary.update(prune_speech(days, cutoff))

    for folder in UPLOAD_DIRS:
        deleted = [path.relative_to(media).as_posix() for path in old_files(media / folder, cutoff) if delete(path)]
        summary["upload_files"] += len(deleted)
        summary["turns_cleared"] += _clear_turn_audio(deleted)
        remove_empty_dirs(media / folder)

    if any(summary.values()):
        log.info("pruned old audio: %s", summary)
    return summary
