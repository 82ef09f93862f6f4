"""PollySynthesizer with real boto3 against a fake Polly on 127.0.0.1 (and moto's in-process mock)."""

import socket
import threading
import xml.etree.ElementTree as ET

import pytest

from lib import resilience
from speech.providers import get_synthesizer
from speech.providers import polly as polly_provider
from speech.providers.base import SpeechError
from tests.fakes.polly import FRAME_SECONDS, MP3_FRAME, fake_polly, silent_mp3  # noqa: F401


@pytest.fixture(autouse=True)
def fast(settings, monkeypatch):
    settings.SPEECH_TTS = "polly"
    settings.SPEECH_TIMEOUT = 3
    settings.SPEECH_RETRIES = 3
    settings.POLLY_VOICE = "Joanna"
    settings.POLLY_ENGINE = "neural"
    monkeypatch.setattr(resilience, "BACKOFF_BASE_SECONDS", 0.01)
    resilience.reset_breakers()
    yield
    resilience.reset_breakers()


def synthesizer():
    s = get_synthesizer()
    assert isinstance(s, polly_provider.PollySynthesizer)
    return s


def prosody_text(ssml):
    root = ET.fromstring(ssml)
    assert root.tag == "speak"
    brk, prosody = list(root)
    assert brk.tag == "break" and brk.get("time") == "150ms"
    return prosody.get("rate"), prosody.text


def test_it_returns_mp3_audio_with_its_duration(fake_polly):
    audio = synthesizer().synthesize("Tell me about a project you led.")
    assert audio.content_type == "audio/mpeg"
    assert audio.data[:2] == b"\xff\xf3" and len(audio.data) % len(MP3_FRAME) == 0
    assert audio.duration == pytest.approx(len(audio.data) / len(MP3_FRAME) * FRAME_SECONDS, abs=0.001)
    assert audio.duration == pytest.approx(0.15 + 7 * 0.35, abs=0.03)
    (req,) = fake_polly.requests
    assert req.output_format == "mp3"
    assert req.text_type == "ssml"
    assert (req.voice, req.engine) == ("Joanna", "neural")
    assert req.access_key == "fake-polly-key-id"


def test_it_escapes_the_text_inside_ssml(fake_polly):
    text = 'Tom & Jerry <script>alert("hi")</script> isn\'t > 3'
    synthesizer().synthesize(text)
    (ssml,) = fake_polly.ssml
    assert "Tom &amp; Jerry &lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt; isn&apos;t &gt; 3" in ssml
    assert "<script>" not in ssml
    rate, spoken = prosody_text(ssml)  # well-formed, and the text round-trips exactly
    assert spoken == text
    assert rate == "100%"


def test_it_drops_characters_xml_forbids(fake_polly):
    synthesizer().synthesize("Hello\x00 there\x1b.")
    rate, spoken = prosody_text(fake_polly.ssml[0])
    assert spoken == "Hello there."


@pytest.mark.parametrize(
    "speed, rate",
    [(1.0, "100%"), (1.25, "125%"), (0.8, "80%"), (0.1, "50%"), (5, "200%"), (2.0, "200%"), ("fast", "100%")],
)
def test_it_turns_speed_into_a_clamped_prosody_rate(fake_polly, speed, rate):
    synthesizer().synthesize("Next question.", speed=speed)
    assert prosody_text(fake_polly.ssml[0])[0] == rate


def test_it_speaks_faster_when_asked(fake_polly):
    normal = synthesizer().synthesize("one two three four five six")
    fast = synthesizer().synthesize("one two three four five six", speed=2.0)
    assert fast.duration < normal.duration * 0.6


def test_it_retries_throttling_then_succeeds(fake_polly):
    fake_polly.throttle(times=2)
    audio = synthesizer().synthesize("Thanks for your answer.")
    assert audio.data
    assert [r.status for r in fake_polly.requests] == [400, 400, 200]  # boto3 itself retried nothing


def test_it_gives_up_on_persistent_throttling(fake_polly, settings):
    settings.SPEECH_RETRIES = 2
    fake_polly.throttle(times=20)
    with pytest.raises(SpeechError) as caught:
        synthesizer().synthesize("Thanks.")
    assert caught.value.retryable is True
    assert len(fake_polly.requests) == 3


def test_it_retries_a_5xx(fake_polly):
    fake_polly.fail(500, "ServiceFailureException")
    assert synthesizer().synthesize("Go on.").data
    assert [r.status for r in fake_polly.requests] == [500, 200]


@pytest.mark.parametrize(
    "status, code",
    [(400, "TextLengthExceededException"), (400, "InvalidSsmlException"), (403, "UnrecognizedClientException")],
)
def test_it_does_not_retry_other_errors(fake_polly, status, code):
    fake_polly.fail(status, code)
    with pytest.raises(SpeechError) as caught:
        synthesizer().synthesize("Hello.")
    assert caught.value.retryable is False
    assert len(fake_polly.requests) == 1


def test_it_rejects_an_unknown_voice_without_retrying(fake_polly, settings):
    settings.POLLY_VOICE = "Nobody"
    with pytest.raises(SpeechError) as caught:
        synthesizer().synthesize("Hello.")
    assert caught.value.retryable is False
    assert len(fake_polly.requests) == 1


def test_it_refuses_empty_text(fake_polly):
    with pytest.raises(SpeechError):
        synthesizer().synthesize("   ")
    assert fake_polly.requests == []


def test_it_treats_an_unreachable_endpoint_as_retryable(fake_polly, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.POLLY_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    settings.SPEECH_RETRIES = 1
    with pytest.raises(SpeechError) as caught:
        synthesizer().synthesize("Hello.")
    assert caught.value.retryable is True


def test_it_shares_one_client_across_threads(fake_polly):
    fake_polly.latency = 0.3
    polly_provider._client()  # built once, up front
    results, errors = [], []

    def work(i):
        try:
            results.append(synthesizer().synthesize(f"Sentence number {i}."))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors and len(results) == 6
    assert fake_polly.max_concurrent >= 4  # calls ran in parallel, not one after another
    assert polly_provider._client() is polly_provider._client()


def test_it_measures_mp3_durations():
    assert polly_provider.mp3_duration(silent_mp3(1.2)) == pytest.approx(1.2, abs=FRAME_SECONDS)
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + bytes(10)
    assert polly_provider.mp3_duration(tag + MP3_FRAME * 10) == pytest.approx(10 * FRAME_SECONDS)
    assert polly_provider.mp3_duration(b"") == 0.0
    assert polly_provider.mp3_duration(bytes(8)) == 0.0  # moto's "audio"


def test_it_is_accepted_by_moto(settings, monkeypatch, tmp_path):
    """The request is one AWS's own model accepts (moto validates voice, engine, format)."""
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # A session and client of its own, made after moto is imported (moto hooks into
    # sessions as they are created), living and dying with the mock.
    monkeypatch.setattr(polly_provider, "_clients", {})
    monkeypatch.setattr(polly_provider, "_session", None)
    # And should the mock ever fail to intercept: no connection leaves this machine.
    real_connect = socket.socket.connect

    def loopback_only(sock, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise ConnectionRefusedError(f"test network guard: refused {address!r}")
        return real_connect(sock, address)

    real_getaddrinfo = socket.getaddrinfo

    def local_names_only(host, *args, **kwargs):
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise socket.gaierror(f"test network guard: no lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    monkeypatch.setattr(socket, "getaddrinfo", local_names_only)
    settings.POLLY_ENDPOINT_URL = ""
    settings.POLLY_REGION = "eu-west-1"
    with mock_aws():
        audio = synthesizer().synthesize("Tom & Jerry.")
    assert audio.content_type == "audio/mpeg"
    assert audio.data
