"""The VAD segmenter on its own: synthetic frames and a fake VAD (a window is
speech when it holds any tone), so every event time is exact."""

import numpy as np

from speech.vad import LongSilence, SpeechOngoing, SpeechStarted, Utterance, VadSegmenter

WINDOW = 512
PRE_ROLL = TAIL_PAD = 4800  # 300 ms


class ToneVad:
    """Probability 0.9 for a window with any sound in it, 0 for silence."""

    window = WINDOW

    def __init__(self):
        self.leftover = np.zeros(0, dtype=np.float32)

    def feed(self, samples):
        audio = np.concatenate([self.leftover, samples])
        whole = len(audio) // WINDOW * WINDOW
        self.leftover = audio[whole:]
        return [0.9 if np.abs(w).max() > 0.01 else 0.0 for w in audio[:whole].reshape(-1, WINDOW)]


def tone(samples):
    return (np.sin(np.arange(samples) * 2 * np.pi * 220 / 16_000) * 8000).astype("<i2").tobytes()


def silence(samples):
    return bytes(2 * samples)


def feed(segmenter, pcm, frame_bytes=3200):
    events = []
    for i in range(0, len(pcm), frame_bytes):
        events += segmenter.feed(pcm[i : i + frame_bytes])
    return events


def without_ongoing(events):
    return [e for e in events if not isinstance(e, SpeechOngoing)]


def test_it_reports_start_pause_and_long_silence_with_the_utterance_audio():
    # Tone from sample 8000 to 24000: speech starts in the window at 7680, the
    # first silent window starts at 24064.
    audio = silence(8000) + tone(16_000) + silence(40_000)
    events = feed(VadSegmenter(ToneVad()), audio)
    assert without_ongoing(events) == [
        SpeechStarted(utterance=1, at=7680),
        Utterance(1, 7680 - PRE_ROLL, 24064 + TAIL_PAD, audio[(7680 - PRE_ROLL) * 2 : (24064 + TAIL_PAD) * 2], "pause"),
        LongSilence(),
    ]
    started, paused, _ = (events.index(e) for e in without_ongoing(events))
    assert all(isinstance(e, SpeechOngoing) for e in events[started + 1 : paused])
    assert paused - started > 5  # one per frame while speaking


def test_it_hands_out_the_audio_so_far_while_speech_goes_on():
    segmenter = VadSegmenter(ToneVad())
    audio = silence(8000) + tone(16_000)
    ongoing = [e for e in feed(segmenter, audio) if isinstance(e, SpeechOngoing)]
    last = ongoing[-1]
    assert (last.utterance, last.start, last.end) == (1, 7680 - PRE_ROLL, len(audio) // 2)
    assert segmenter.pcm(last.start, last.end) == audio[last.start * 2 :]


def test_it_reports_nothing_for_silence_and_keeps_only_the_pre_roll():
    segmenter = VadSegmenter(ToneVad())
    assert feed(segmenter, silence(5 * 16_000)) == []
    assert len(segmenter.held()) <= (PRE_ROLL + WINDOW + 1600) * 2


def test_it_does_not_cut_at_a_pause_shorter_than_the_endpoint():
    audio = silence(8000) + tone(16_000) + silence(8000) + tone(16_000) + silence(16_000)
    events = without_ongoing(feed(VadSegmenter(ToneVad(), endpoint_ms=600), audio))
    assert [type(e) for e in events] == [SpeechStarted, Utterance]
    assert events[1].reason == "pause"
    assert events[1].end == 48_128 + TAIL_PAD  # the first silent window after the second tone


def test_it_cuts_long_speech_at_a_dip_past_halfway_and_goes_on():
    # 2.5 s cap; a 0.1 s dip from 27200 whose last whole silent window starts at 28160.
    audio = silence(8000) + tone(19_200) + silence(1600) + tone(27_200) + silence(16_000)
    events = without_ongoing(feed(VadSegmenter(ToneVad(), max_utterance_seconds=2.5), audio))
    assert [(type(e), e.utterance) for e in events] == [(SpeechStarted, 1), (Utterance, 1), (Utterance, 2)]
    first, second = events[1], events[2]
    assert (first.start, first.end, first.reason) == (7680 - PRE_ROLL, 28160, "length")
    assert (second.start, second.reason) == (28160, "pause")
    assert first.pcm + second.pcm == audio[first.start * 2 : second.end * 2]


def test_it_flushes_the_speech_in_progress_once():
    segmenter = VadSegmenter(ToneVad())
    audio = silence(8000) + tone(16_000)
    feed(segmenter, audio)
    assert segmenter.flush() == [Utterance(1, 7680 - PRE_ROLL, 24_000, audio[(7680 - PRE_ROLL) * 2 :], "end")]
    assert segmenter.flush() == []


def test_it_gives_the_same_events_for_odd_frame_sizes():
    audio = silence(8000) + tone(16_000) + silence(40_000)
    whole = without_ongoing(feed(VadSegmenter(ToneVad()), audio))
    odd = without_ongoing(feed(VadSegmenter(ToneVad()), audio, frame_bytes=333))
    assert odd == whole


def test_it_releases_its_audio():
    segmenter = VadSegmenter(ToneVad())
    feed(segmenter, silence(8000) + tone(16_000))
    assert segmenter.held()
    segmenter.release()
    assert segmenter.held() == b""
