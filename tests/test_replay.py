"""Replay on an interviewer turn: which sentences it plays again, in what
order, after a reload, and that nobody else can play them."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from speech.models import SpeechTask
from speech.tts import spoken_turns
from tests.factories import answered, ask, make_interview

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def spoken(interview, turn_index, seq, text, media, status=SpeechTask.Status.COMPLETED, with_file=True):
    """A sentence of a turn as queue_sentence records it, with its cached file."""
    path = f"tts/{interview.id}/{turn_index}-{seq}-{abs(hash(text))}.wav"
    if with_file:
        (media / path).parent.mkdir(parents=True, exist_ok=True)
        (media / path).write_bytes(b"RIFF" + text.encode())
    return SpeechTask.objects.create(
        interview=interview,
        kind=SpeechTask.Kind.TTS,
        status=status,
        result={"text": text, "speed": 1.0, "turn_index": turn_index, "seq": seq, "path": path},
    )


def replay_urls(html, turn_index):
    bubble = re.search(rf'<div class="bubble [^"]*" id="turn-{turn_index}".*?</div>', html, re.S).group(0)
    found = re.search(r'data-replay="([^"]*)"', bubble)
    return found.group(1).split() if found else None


def test_it_lists_a_turns_sentences_in_speaking_order(owner, media):
    interview = make_interview(owner)
    first = spoken(interview, 0, 0, "Welcome.", media)
    second = spoken(interview, 0, 1, "Tell me about a migration you led.", media)
    other_turn = spoken(interview, 2, 0, "What did you learn?", media)
    assert spoken_turns(interview.id) == {0: [first.id, second.id], 2: [other_turn.id]}


def test_it_leaves_out_failed_sentences_and_ones_whose_file_was_pruned(owner, media):
    interview = make_interview(owner)
    kept = spoken(interview, 0, 0, "Welcome.", media)
    spoken(interview, 0, 1, "A sentence that failed.", media, status=SpeechTask.Status.ERROR)
    spoken(interview, 0, 2, "A sentence pruned by the cleanup.", media, with_file=False)
    pending = spoken(interview, 0, 3, "Still being made.", media, status=SpeechTask.Status.QUEUED, with_file=False)
    spoken(interview, 2, 0, "Gone entirely.", media, with_file=False)
    assert spoken_turns(interview.id) == {0: [kept.id, pending.id]}


def test_it_keeps_only_the_last_run_of_a_turn_written_again(owner, media):
    interview = make_interview(owner)
    spoken(interview, 2, 0, "A first try that failed mid-turn.", media)
    spoken(interview, 2, 1, "Its second sentence.", media)
    again = spoken(interview, 2, 0, "The turn as it was written on Retry.", media)
    assert spoken_turns(interview.id) == {2: [again.id]}


def test_the_room_offers_replay_on_spoken_turns_only_even_after_a_reload(owner, owner_client, media):
    interview = answered(owner, answers=("I led our move to Kubernetes.",))
    question = ask(interview, "What went wrong? What did you learn?")
    one = spoken(interview, question.index, 0, "What went wrong?", media)
    two = spoken(interview, question.index, 1, "What did you learn?", media)

    html = owner_client.get(reverse("interview_room", args=[interview.id])).content.decode()

    assert replay_urls(html, question.index) == [
        reverse("speech_task_audio", args=[one.id]),
        reverse("speech_task_audio", args=[two.id]),
    ]
    assert replay_urls(html, 0) is None  # the first question was not spoken
    assert replay_urls(html, 1) is None  # the candidate's answer has nothing to replay
    assert "js/replay.js" in html


def test_nobody_else_can_play_a_replay(client, owner, other, media):
    interview = make_interview(owner)
    ask(interview, "A question quoting your résumé.")
    task = spoken(interview, 0, 0, "A question quoting your résumé.", media)
    url = reverse("speech_task_audio", args=[task.id])
    client.force_login(other)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code in (302, 401, 403)
