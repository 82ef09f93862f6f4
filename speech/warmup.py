"""Load the local speech models when a web process starts, in the background,
so the first candidate to press the microphone is not the one who waits."""

import logging
import threading

from django.conf import settings

log = logging.getLogger(__name__)


def warm_up_in_background():
    if settings.SPEECH_LIVE_STT != "local" and settings.SPEECH_LIVE_FALLBACK != "local":
        return

    def load():
        try:
            from speech.providers.local_models import get_vad_session, get_whisper

            get_whisper()
            get_vad_session()
        except Exception:
            log.exception("could not preload the local speech models; they load on first use")

    threading.Thread(target=load, name="speech-warmup", daemon=True).start()
