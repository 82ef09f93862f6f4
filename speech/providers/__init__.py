"""Speech providers behind small interfaces (see base.py), chosen by settings:

    SPEECH_LIVE_STT   local | deepgram      live transcription of the microphone
    SPEECH_BATCH_STT  local | assemblyai    uploaded answer audio
    SPEECH_TTS        local | polly         the interviewer's voice

Each provider is imported where it is chosen, not at the top: a vendor's SDK,
or the local engines' models and onnxruntime, load only in the processes that
use them.
"""

from django.conf import settings


def get_live_transcriber(provider=None, **options):
    if (provider or settings.SPEECH_LIVE_STT) == "deepgram":
        from speech.providers.deepgram import DeepgramLiveTranscriber

        return DeepgramLiveTranscriber(**options)
    from speech.providers.local_stt import LocalLiveTranscriber

    return LocalLiveTranscriber(**options)


def get_batch_transcriber():
    if settings.SPEECH_BATCH_STT == "assemblyai":
        from speech.providers.assemblyai import AssemblyAITranscriber

        return AssemblyAITranscriber()
    from speech.providers.local_stt import LocalBatchTranscriber

    return LocalBatchTranscriber()


def get_synthesizer():
    if settings.SPEECH_TTS == "polly":
        from speech.providers.polly import PollySynthesizer

        return PollySynthesizer()
    from speech.providers.local_tts import LocalSynthesizer

    return LocalSynthesizer()
