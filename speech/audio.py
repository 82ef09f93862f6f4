"""Audio helpers: WAV wrapping, resampling to 16 kHz PCM, probing uploads.

Uploads are checked by content (the demuxer av/ffmpeg recognises), never by
the file name: a PNG renamed answer.wav is rejected.
"""

import io
import wave

import av
import numpy as np

from speech.providers.base import SAMPLE_RATE, SpeechError

NOT_AUDIO = "This file is not audio we can read. Please upload a WAV, WebM, OGG, MP3 or M4A recording."

# Upload formats we accept, keyed by a short name, with the ffmpeg demuxer
# names that identify them (av reports e.g. "matroska,webm" or
# "mov,mp4,m4a,3gp,3g2,mj2" for one demuxer).
ALLOWED_FORMATS = {
    "wav": {"label": "WAV", "demuxers": {"wav"}},
    "webm": {"label": "WebM/Opus", "demuxers": {"matroska", "webm"}},
    "ogg": {"label": "OGG", "demuxers": {"ogg"}},
    "mp3": {"label": "MP3", "demuxers": {"mp3"}},
    "m4a": {"label": "M4A", "demuxers": {"mov", "mp4", "m4a"}},
}
ALLOWED_LABELS = ", ".join(f["label"] for f in ALLOWED_FORMATS.values())


def pcm_to_wav(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Wrap mono 16-bit little-endian PCM in a RIFF/WAV header."""
    if len(pcm) % 2:
        pcm = pcm[:-1]
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(int(sample_rate))
        wav.writeframes(pcm)
    return out.getvalue()


def _decode_to_pcm16k(source) -> bytes:
    """Decode the first audio stream of `source` (path or file object) to
    16 kHz mono s16le PCM."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    parts = []
    with av.open(source, mode="r") as container:
        if not container.streams.audio:
            raise SpeechError(NOT_AUDIO)
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            frame.pts = None
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            parts.append(out.to_ndarray().reshape(-1))
    if not parts:
        return b""
    return np.concatenate(parts).astype("<i2").tobytes()


def wav_to_pcm16k(wav_bytes: bytes) -> bytes:
    """Any WAV (any rate, channels, sample format) -> 16 kHz mono s16le PCM.

    Other formats av can decode work too."""
    try:
        return _decode_to_pcm16k(io.BytesIO(wav_bytes))
    except SpeechError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise SpeechError(NOT_AUDIO) from exc


def file_to_pcm16k(path) -> bytes:
    try:
        return _decode_to_pcm16k(str(path))
    except SpeechError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise SpeechError(NOT_AUDIO) from exc


def format_key(demuxer_name):
    """Our short name for an av demuxer name, or None if it is not allowed."""
    names = set((demuxer_name or "").split(","))
    for key, spec in ALLOWED_FORMATS.items():
        if names & spec["demuxers"]:
            return key
    return None


def _stream_duration(container, stream):
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
        if seconds > 0:
            return seconds
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    # No duration in the header (e.g. a browser MediaRecorder WebM): read the
    # packets (no decoding) and take the end of the last one.
    end = 0.0
    for packet in container.demux(stream):
        if packet.pts is None or packet.time_base is None:
            continue
        finish = float((packet.pts + (packet.duration or 0)) * packet.time_base)
        end = max(end, finish)
    start = float(stream.start_time * stream.time_base) if stream.start_time and stream.time_base else 0.0
    return max(0.0, end - start)


def probe(path) -> dict:
    """{"duration": seconds, "format": demuxer name, "codec": audio codec}.

    Raises SpeechError if av cannot open the file, it has no audio stream, or
    its first audio packet does not decode."""
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                raise SpeechError(NOT_AUDIO)
            stream = container.streams.audio[0]
            fmt = container.format.name
            codec = stream.codec_context.name
            # Prove the audio decodes: the first frame is enough.
            decoded = False
            for frame in container.decode(stream):
                decoded = True
                break
            if not decoded:
                raise SpeechError("This recording has no sound in it.")
        with av.open(str(path), mode="r") as container:
            duration = _stream_duration(container, container.streams.audio[0])
    except SpeechError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, UnicodeDecodeError) as exc:
        raise SpeechError(NOT_AUDIO) from exc
    return {"duration": round(duration, 3), "format": fmt, "codec": codec}


def _minutes(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def validate_upload(path, max_seconds) -> dict:
    """Check an uploaded answer by its content. Returns probe() info with
    "format" replaced by our short name (wav, webm, ogg, mp3, m4a) and the
    demuxer name kept as "container". Raises SpeechError with a message safe
    to show the candidate."""
    info = probe(path)
    key = format_key(info["format"])
    if key is None:
        raise SpeechError(
            f"This audio format isn't supported ({info['format']}, {info['codec']}). "
            f"Please upload one of: {ALLOWED_LABELS}."
        )
    if info["duration"] <= 0:
        raise SpeechError("This recording is empty.")
    if max_seconds and info["duration"] > max_seconds:
        raise SpeechError(
            f"This recording is {_minutes(info['duration'])} long; the limit is {_minutes(max_seconds)}. "
            "Please upload a shorter answer."
        )
    return {**info, "format": key, "container": info["format"]}
