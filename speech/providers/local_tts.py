"""The interviewer's voice, offline: piper with the bundled "joe" US voice.

Plain text in (no SSML), 16-bit mono WAV out at the voice's own sample rate
(22,050 Hz). `speed` 0.5-2.0 maps to piper's length_scale = 1/speed.
"""

import numpy as np

from speech.audio import pcm_to_wav
from speech.providers import local_models
from speech.providers.base import Audio, SpeechError

MIN_SPEED = 0.5
MAX_SPEED = 2.0
# Pause inserted between sentences (piper synthesises one chunk per sentence).
SENTENCE_SILENCE_SECONDS = 0.2
MAX_TEXT_CHARS = 5000


class LocalSynthesizer:
    def synthesize(self, text, speed=1.0) -> Audio:
        if not isinstance(text, str) or not text.strip():
            raise SpeechError("There is no text to speak.")
        text = text.strip()
        if len(text) > MAX_TEXT_CHARS:
            raise SpeechError("This text is too long to speak in one go.")
        try:
            speed = float(speed)
        except (TypeError, ValueError):
            raise SpeechError("The speaking speed must be a number.") from None
        if not np.isfinite(speed):
            raise SpeechError("The speaking speed must be a number.")
        speed = min(MAX_SPEED, max(MIN_SPEED, speed))

        from piper import SynthesisConfig

        try:
            voice = local_models.get_voice()
        except Exception as exc:
            raise SpeechError("The voice engine could not start.", retryable=True) from exc
        base_scale = voice.config.length_scale or 1.0
        config = SynthesisConfig(length_scale=base_scale / speed)
        rate = voice.config.sample_rate
        gap = np.zeros(int(rate * SENTENCE_SILENCE_SECONDS), dtype=np.int16)
        parts = []
        try:
            with local_models.tts_slots():
                for chunk in voice.synthesize(text, syn_config=config):
                    if parts:
                        parts.append(gap)
                    parts.append(chunk.audio_int16_array.reshape(-1))
        except SpeechError:
            raise
        except Exception as exc:
            raise SpeechError("The voice engine failed to speak this text.", retryable=True) from exc
        if not parts:
            raise SpeechError("There is nothing speakable in this text.")
        samples = np.concatenate(parts).astype("<i2")
        return Audio(data=pcm_to_wav(samples.tobytes(), rate), content_type="audio/wav", duration=len(samples) / rate)
