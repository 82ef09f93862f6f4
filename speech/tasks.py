"""Speech work run by the django-q2 `stt` and `tts` clusters.

Each task claims its SpeechTask row first (SpeechTask.claim), so a duplicate delivery does
nothing and a task retried after a worker crash runs again.
"""

import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings

from lib.caps import CapFull, get_cap
from speech.models import SpeechTask
from speech.providers import get_batch_transcriber, get_synthesizer
from speech.providers.base import SpeechError

log = logging.getLogger(__name__)


def tts_cap_name():
    return "polly" if settings.SPEECH_TTS == "polly" else "local_tts"


def stt_cap_name():
    return "assemblyai" if settings.SPEECH_BATCH_STT == "assemblyai" else "local_stt_batch"


def synthesize(task_id):
    task = SpeechTask.objects.filter(pk=task_id).first()
    if task is None or not task.claim():
        return False
    meta = task.result or {}
    target = Path(settings.MEDIA_ROOT) / meta["path"]
    try:
        if not target.exists():
            with get_cap(tts_cap_name()).slot(timeout=settings.SPEECH_TIMEOUT * 2):
                audio = get_synthesizer().synthesize(meta["text"], speed=meta.get("speed", 1.0))
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a reader never sees half a file.
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
                tmp.write(audio.data)
            os.replace(tmp.name, target)
            meta["duration"] = audio.duration
    except (SpeechError, CapFull) as exc:
        task.fail(str(exc))
        return False
    except Exception:
        log.exception("speech synthesis failed for task %s", task_id)
        task.fail("The interviewer's voice is unavailable right now.")
        raise
    return task.finish(meta)


def transcribe_upload(task_id):
    task = SpeechTask.objects.filter(pk=task_id).first()
    if task is None or not task.claim():
        return False
    meta = task.result or {}
    SpeechTask.objects.filter(pk=task_id).update(progress=20)
    try:
        with get_cap(stt_cap_name()).slot(timeout=settings.ASSEMBLYAI_MAX_WAIT_SECONDS):
            SpeechTask.objects.filter(pk=task_id).update(progress=40)
            transcript = get_batch_transcriber().transcribe(str(Path(settings.MEDIA_ROOT) / meta["path"]))
    except (SpeechError, CapFull) as exc:
        # A failed upload is never attached to an answer: keep no copy of it.
        (Path(settings.MEDIA_ROOT) / meta["path"]).unlink(missing_ok=True)
        task.fail(str(exc))
        return False
    except Exception:
        log.exception("transcription failed for task %s", task_id)
        task.fail("The recording could not be transcribed. Please type your answer instead.")
        raise
    words = transcript.words
    speaking = (words[-1].end - words[0].start) if words else transcript.duration
    meta.update(
        text=transcript.text.strip(),
        duration=transcript.duration,
        speaking_seconds=round(speaking, 2),
        words=[[w.word, round(w.start, 2), round(w.end, 2)] for w in words[:5000]],
    )
    return task.finish(meta)
