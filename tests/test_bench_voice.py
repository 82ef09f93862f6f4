"""bench/voice_turns.py, the voice turn-taking figure of `make bench`: its
recordings, how it decides that an answer was cut, and a small run against the
real processes (daphne, the django-q2 clusters, local Whisper and piper) that
plays one finished and one paused answer into the microphone socket as the page would."""

import re

import pytest

from bench import voice_turns
from bench.voice_turns import Played, Recording, has_second_half, paused_row


def _paused_recording():
    # 0.5 s lead, first half to 2.0 s, a 5 s pause, the second half from 7.0 s to 9.0 s.
    return Recording(
        "mid", "paused", "I was responsible for the payments platform and deploys.", b"\0" * 32_000 * 9,
        speech_end=9.0, pause=5, pause_start=2.0, resume=7.0, second_half="the payments platform and deploys.",
    )


def _played(events, answer):
    played = Played("mid", "paused", 5, events=events, answer=answer)
    sends = [(t, m) for t, m in events if m.get("state") == "send"]
    if sends:
        played.send_at, played.send = sends[-1]
    return played


def test_an_answer_sent_during_the_pause_counts_as_cut():
    send = {"event": "turn", "state": "send", "ended_by": "model", "speaking_seconds": 1.5, "thinking_seconds": 0}
    row = paused_row(_played([(2.9, send)], "I was responsible for"), _paused_recording())
    assert row["cut"] and row["sent_before_second_half"] and row["second_half_missing"]


def test_an_answer_sent_after_the_second_half_without_its_words_counts_as_cut():
    send = {"event": "turn", "state": "send", "ended_by": "model"}
    row = paused_row(_played([(9.9, send)], "I was responsible for"), _paused_recording())
    assert row["cut"] and not row["sent_before_second_half"] and row["second_half_missing"]


def test_a_whole_answer_with_thinking_shown_in_the_pause_is_not_cut():
    thinking = {"event": "turn", "state": "thinking", "ask_in_ms": 25_000}
    send = {"event": "turn", "state": "send", "ended_by": "model", "thinking_seconds": 5.0}
    answer = "I was responsible for the payment platform and deploys."  # Whisper's small slips are allowed
    row = paused_row(_played([(2.8, thinking), (9.9, send)], answer), _paused_recording())
    assert not row["cut"]
    assert row["thinking_shown_in_pause_s"] == pytest.approx(0.8)
    assert row["send_after_end_s"] == pytest.approx(0.9)


def test_the_second_half_is_found_despite_a_few_misheard_words_but_not_when_most_are_missing():
    half = "I would start by measuring where the time goes, then fix the slowest step first."
    assert has_second_half("let me think. I would start by measuring where time goes then fixed the slowest step", half)
    assert not has_second_half("That's a good question, let me think. I would start", half)


def test_paused_recordings_hold_exactly_the_pause_between_the_halves(tmp_path):
    [recording] = voice_turns.load_recordings(tmp_path, names=["let_me_think_5s"])
    assert recording.resume - recording.pause_start == 5
    start, end = voice_turns._voiced_bounds(recording.pcm)
    assert start / 16_000 >= voice_turns.LEAD_SECONDS - 0.01  # the lead is silent
    pause = recording.pcm[int(recording.pause_start * 16_000) * 2 + 2 : int(recording.resume * 16_000) * 2 - 2]
    assert pause.strip(b"\0") == b""
    assert recording.speech_end == pytest.approx(end / 16_000, abs=0.02)


def test_the_figure_plays_answers_into_the_real_app_and_times_every_step(tmp_path):
    figure = voice_turns.voice_turns_figure({}, names=["question_back", "let_me_think_5s"], lanes=1, model_runs=2, cache_dir=tmp_path)

    assert figure["errors"] == 0, figure["error_samples"]
    [finished] = figure["finished_answers"]
    # The page's steps, in order, each after the end of speech.
    assert 0 < finished["final_s"] <= finished["send_s"] < finished["sentence_s"] < finished["first_audio_s"]
    assert finished["send_s"] < finished["posted_s"]
    assert finished["ended_by"] in ("model", "timeout")
    # What was said reached the app: most of the script's words, whatever Whisper
    # makes of a single one ("team" is sometimes "teen" on another machine).
    script = set(re.findall(r"[a-z]+", dict(voice_turns.FINISHED)["question_back"].lower()))
    heard = set(re.findall(r"[a-z]+", finished["answer"].lower()))
    assert len(script & heard) >= 0.7 * len(script), finished["answer"]
    assert figure["finished"]["first_audio_ms"]["n"] == 1

    [paused] = figure["paused_answers"]
    assert paused["pause_s"] == 5 and paused["error"] == ""
    assert paused["cut"] == (paused["sent_before_second_half"] or paused["second_half_missing"])
    assert figure["paused"]["5"]["n"] == 1

    # The app stored both as spoken answers, with how each ended, as from the page.
    stored = figure["answers_stored"]
    assert figure["answers_posted"] == stored["live_voice"] == 2
    assert stored["ended_by"].get("none", 0) == 0 and stored["with_thinking_seconds"] >= 1

    model = figure["model"]
    # Three cases (the finished answer's end, the paused one's pause and end), two runs each.
    assert model["finished_at_end"]["n"] == 2 and model["unfinished_at_pause"]["n"] == 1
    assert model["decisions"] == 6 and model["cpu_ms"]["n"] == 6
    assert 0 <= model["accuracy"] <= 1
