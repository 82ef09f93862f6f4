"""Test audio made offline with piper (the app's own voice), cached per process.

    say(text, speed=1.0)         -> 16 kHz mono s16le PCM bytes
    silence(seconds)             -> PCM bytes of digital silence
    wav_file(tmp_path, text)     -> path of a 16 kHz WAV of `text`
    transcode(wav_path, fmt, dst)-> path of the same audio as ogg/webm/mp3/m4a
    frames(pcm, size)            -> the PCM cut into `size`-byte frames

`transcode` raises pytest.skip (saying which encoder is missing) only when
av's build lacks the encoder for that format.
"""

import functools
from pathlib import Path

import av
import pytest

from speech.audio import pcm_to_wav, wav_to_pcm16k

BYTES_PER_SECOND = 32_000  # 16 kHz, 16-bit, mono

# format -> (av container format, encoder, sample rate, file suffix)
TRANSCODE = {
    "ogg": ("ogg", "libopus", 48_000, ".ogg"),
    "webm": ("webm", "libopus", 48_000, ".webm"),
    "mp3": ("mp3", "libmp3lame", 44_100, ".mp3"),
    "m4a": ("ipod", "aac", 44_100, ".m4a"),
}


@functools.lru_cache(maxsize=64)
def say(text, speed=1.0):
    """`text` spoken by piper, resampled to 16 kHz mono s16le PCM."""
    from speech.providers.local_tts import LocalSynthesizer

    audio = LocalSynthesizer().synthesize(text, speed=speed)
    return wav_to_pcm16k(audio.data)


@functools.lru_cache(maxsize=16)
def silence(seconds):
    return bytes(int(seconds * BYTES_PER_SECOND) // 2 * 2)


def wav_file(tmp_path, text, name="answer.wav", lead=0.3, tail=0.5):
    """A 16 kHz WAV of `text` with a little silence around it."""
    path = Path(tmp_path) / name
    path.write_bytes(pcm_to_wav(silence(lead) + say(text) + silence(tail), 16_000))
    return path


def frames(pcm, size=3200):
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def has_encoder(name):
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:
        return False


def transcode(wav_path, fmt, dst=None):
    """Re-encode a WAV as `fmt` (ogg = OGG/Opus, webm = WebM/Opus, mp3, m4a = AAC)."""
    container_format, encoder, rate, suffix = TRANSCODE[fmt]
    if not has_encoder(encoder):
        pytest.skip(f"this av build has no {encoder} encoder, so {fmt} uploads are not tested")
    wav_path = Path(wav_path)
    dst = Path(dst) if dst else wav_path.with_suffix(suffix)
    with av.open(str(wav_path)) as source, av.open(str(dst), "w", format=container_format) as out:
        stream = out.add_stream(encoder, rate=rate)
        stream.layout = "mono"
        sample_format = stream.codec_context.format.name if stream.codec_context.format else None
        supported = [f.name for f in (stream.codec_context.codec.audio_formats or [])]
        if supported and sample_format not in supported:
            sample_format = supported[0]
        resampler = av.AudioResampler(format=sample_format, layout="mono", rate=rate)
        for frame in source.decode(audio=0):
            frame.pts = None
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    out.mux(packet)
        for converted in resampler.resample(None):
            for packet in stream.encode(converted):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return dst
