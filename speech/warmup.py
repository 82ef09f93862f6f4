"""Load the local speech models before a candidate needs them, in the background.

One warm-up for the speech app, run by each process that uses the models:
- a web process (interviewer/asgi.py) transcribes the microphone: Whisper and
  the VAD, when live transcription or its fallback is local; and it decides
  the end of every spoken answer, whatever the provider: smart-turn (loaded
  and run once, as its first run is slower);
- a worker of the `stt` cluster transcribes uploads: Whisper, when batch
  transcription is local;
- a worker of the `tts` cluster speaks the interviewer's turns: the piper
  voice, when synthesis is local.
Workers warm up as django-q2 spawns them (SpeechConfig connects its
post_spawn signal). A model that fails to load here loads, or fails
properly, on first use.
"""

import logging
import threading

from django.conf import settings
from django_q.conf import Conf

from speech import turn_detector
from speech.providers import local_models

log = logging.getLogger(__name__)


def models_for(process):
    """The loaders of the local models a process of this kind uses: "web",
    or the name of the django-q2 cluster a worker belongs to."""
    if process == "web":
        if "local" in (settings.SPEECH_LIVE_STT, settings.SPEECH_LIVE_FALLBACK):
            return [turn_detector.load, local_models.get_whisper, local_models.get_vad_session]
        return [turn_detector.load]
    if process == "stt" and settings.SPEECH_BATCH_STT == "local":
        return [local_models.get_whisper]
    if process == "tts" and settings.SPEECH_TTS == "local":
        return [local_models.get_voice]
    return []


def warm_up(process="web"):
    loaders = models_for(process)
    if not loaders:
        return

    def load():
        try:
            for loader in loaders:
                loader()
        except Exception:
            log.exception("could not preload the local speech models; they load on first use")
            return
        log.info("speech models ready in the %s process: %s", process, ", ".join(loader.__name__ for loader in loaders))

    threading.Thread(target=load, name="speech-warmup", daemon=True).start()


def warm_up_worker(sender, proc_name=None, **kwargs):
    """django-q2's post_spawn receiver: warm up for this worker's cluster."""
    warm_up(Conf.CLUSTER_NAME)
