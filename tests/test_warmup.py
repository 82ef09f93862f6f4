"""Each process preloads the local speech models it will use: web processes
Whisper and the VAD, `stt` workers Whisper, `tts` workers the piper voice."""

import threading
import time

from django_q.signals import post_spawn

from speech import turn_detector, warmup
from speech.providers import local_models
from tests.live_server import LiveServer


def test_each_kind_of_process_loads_only_the_models_it_uses(settings):
    settings.SPEECH_LIVE_STT = "local"
    settings.SPEECH_BATCH_STT = "local"
    settings.SPEECH_TTS = "local"
    assert warmup.models_for("web") == [turn_detector.load, local_models.get_whisper, local_models.get_vad_session]
    assert warmup.models_for("stt") == [local_models.get_whisper]
    assert warmup.models_for("tts") == [local_models.get_voice]
    assert warmup.models_for("interviewer") == []  # the report cluster uses no speech model

    settings.SPEECH_LIVE_STT = settings.SPEECH_LIVE_FALLBACK = "deepgram"
    settings.SPEECH_BATCH_STT = "assemblyai"
    settings.SPEECH_TTS = "polly"
    # The end-of-turn model decides for every live transcriber, Deepgram's too.
    assert [warmup.models_for(kind) for kind in ("web", "stt", "tts")] == [[turn_detector.load], [], []]


def test_a_spawned_worker_warms_up_for_its_own_cluster(settings, monkeypatch):
    settings.SPEECH_TTS = "local"
    loaded = threading.Event()
    monkeypatch.setattr(local_models, "get_voice", lambda: loaded.set())
    monkeypatch.setattr(warmup.Conf, "CLUSTER_NAME", "tts")

    post_spawn.send(sender="django_q", proc_name="Process-1")

    assert loaded.wait(5)


def test_the_speech_workers_of_a_running_cluster_preload_their_models():
    with LiveServer(clusters=LiveServer.ALL_CLUSTERS) as server:
        deadline = time.monotonic() + 180
        wanted = ("speech models ready in the stt process: get_whisper", "speech models ready in the tts process: get_voice")
        while time.monotonic() < deadline and not all(line in server.logs() for line in wanted):
            time.sleep(0.5)
        logs = server.logs()
    for line in wanted:
        assert line in logs
