"""Audio helpers: WAV wrapping, resampling to 16 kHz PCM, probing uploads.

Uploads are checked by content (the demuxer av/ffmpeg recognises), never by
the file name: a PNG renamed answer.wav is rejected. A header can lie about
the length, so decoding counts samples as it goes and stops at the limit:
memory and time stay bounded by AUDIO_UPLOAD_MAX_SECONDS, not by the file.
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


def too_long(max_seconds):
    return f"This recording lasts more than {_minutes(max_seconds)}, the limit. Please upload a shorter answer."


def _pcm16k_chunks(source, max_seconds=None):
    """Yield the first audio stream of `source` (path or file object) as
    16 kHz mono s16 arrays, decoding frame by frame. Raises SpeechError once
    more than `max_seconds` has come out: the length that counts is what the
    audio decodes to, whatever its header says."""
    limit = int(max_seconds * SAMPLE_RATE) if max_seconds else None
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    samples = 0
    with av.open(source, mode="r") as container:
        if not container.streams.audio:
            raise SpeechError(NOT_AUDIO)
        stream = container.streams.audio[0]
        for frame in _frames_then_flush(container, stream):
            if frame is not None:
                frame.pts = None
            for out in resampler.resample(frame):
                chunk = out.to_ndarray().reshape(-1)
                samples += len(chunk)
                if limit is not None and samples > limit:
                    raise SpeechError(too_long(max_seconds))
                yield chunk


def _frames_then_flush(container, stream):
    yield from container.decode(stream)
    yield None  # flushes the resampler


def _decode_to_pcm16k(source, max_seconds=None) -> bytes:
    """Decode to 16 kHz mono s16le PCM (at most `max_seconds` of it)."""
    parts = list(_pcm16k_chunks(source, max_seconds))
    if not parts:
        return b""
    return np.concatenate(parts).astype("<i2", copy=False).tobytes()


_DECODE_ERRORS = (av.error.FFmpegError, ValueError, OSError, UnicodeDecodeError)


def wav_to_pcm16k(wav_bytes: bytes) -> bytes:
    """Any WAV (any rate, channels, sample format) -> 16 kHz mono s16le PCM.

    Other formats av can decode work too."""
    try:
        return _decode_to_pcm16k(io.BytesIO(wav_bytes))
    except SpeechError:
        raise
    except _DECODE_ERRORS as exc:
        raise SpeechError(NOT_AUDIO) from exc


def file_to_pcm16k(path, max_seconds=None) -> bytes:
    try:
        return _decode_to_pcm16k(str(path), max_seconds)
    except SpeechError:
        raise
    except _DECODE_ERRORS as exc:
        raise SpeechError(NOT_AUDIO) from exc


def decoded_seconds(path, max_seconds=None) -> float:
    """How long the audio really plays, found by decoding it (nothing is
    kept); raises SpeechError past `max_seconds` or if it does not decode."""
    try:
        samples = sum(len(chunk) for chunk in _pcm16k_chunks(str(path), max_seconds))
    except SpeechError:
        raise
    except _DECODE_ERRORS as exc:
        raise SpeechError(NOT_AUDIO) from exc
    return samples / SAMPLE_RATE


def format_key(demuxer_name):
    """Our short name for an av demuxer name, or None if it is not allowed."""
    names = set((demuxer_name or "").split(","))
    for key, spec in ALLOWED_FORMATS.items():
        if names & spec["demuxers"]:
            return key
    return None


# Reading packets costs the web process about 10 µs each: read a few more
# than one per 20 ms (browsers' Opus frames) of the allowed length, so an
# honest recording over the limit is refused on upload. The header and the
# packets' times are only a first check; the stt worker counts what decodes.
PACKETS_PER_SECOND = 60


def _stream_duration(container, stream, max_seconds=None):
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
        if seconds > 0:
            return seconds
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    # No duration in the header (e.g. a browser MediaRecorder WebM): read the
    # packets (no decoding) and take the end of the last one, stopping once
    # past the limit.
    budget = int(max_seconds * PACKETS_PER_SECOND) if max_seconds else None
    end = 0.0
    for count, packet in enumerate(container.demux(stream)):
        if budget is not None and (count >= budget or end > max_seconds):
            break
        if packet.pts is None or packet.time_base is None:
            continue
        finish = float((packet.pts + (packet.duration or 0)) * packet.time_base)
        end = max(end, finish)
    start = float(stream.start_time * stream.time_base) if stream.start_time and stream.time_base else 0.0
    return max(0.0, end - start)


def probe(path, max_seconds=None) -> dict:
    """{"duration": seconds, "format": demuxer name, "codec": audio codec}.

    The duration is the header's, or else the end of the last packet (read up
    to a little past `max_seconds`). Raises SpeechError if av cannot open the
    file, it has no audio stream, or its first audio packet does not decode."""
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
            duration = _stream_duration(container, container.streams.audio[0], max_seconds)
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
    """Check an uploaded answer by its content, cheaply: its header and
    packets, not its decoded length (the stt worker decodes it counting
    samples, see decoded_seconds). Returns probe() info with "format" replaced
    by our short name (wav, webm, ogg, mp3, m4a) and the demuxer name kept as
    "container". Raises SpeechError with a message safe to show the candidate."""
    info = probe(path, max_seconds)
    key = format_key(info["format"])
    if key is None:
        raise SpeechError(
            f"This audio format isn't supported ({info['format']}, {info['codec']}). "
            f"Please upload one of: {ALLOWED_LABELS}."
        )
    if info["duration"] <= 0:
        raise SpeechError("This recording is empty.")
    if max_seconds and info["duration"] > max_seconds:
        length = _minutes(info["duration"])
        if length == _minutes(max_seconds):  # its packets were read only to just past the limit
            raise SpeechError(too_long(max_seconds))
        raise SpeechError(f"This recording is {length} long; the limit is {_minutes(max_seconds)}. Please upload a shorter answer.")
    return {**info, "format": key, "container": info["format"]}
