"""Thinking time and what sent a spoken answer (issue 11): saved from the
answer form, validated, shown in the report, exports and staff page, and never
counted against pace or communication."""

import json
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from interviews import coaching, report
from interviews.engine.analysis import speaking_and_thinking, words_of
from interviews.engine.local import LocalEngine
from interviews.export import turn_as_dict
from interviews.models import Interview, Turn
from speech.models import SpeechTask
from tests.factories import ask, make_interview, ready_feedback

# 60 words in four sentences, no fillers: at 150 words a minute it is 24 s of speech.
ANSWER = (
    "I led the migration of our billing system to a new platform last spring. "
    "The hardest part was getting finance to trust the new numbers before launch. "
    "So we ran both systems in parallel for a month and compared every invoice daily. "
    "In the end we found two rounding bugs, fixed them quickly, and switched over without a single complaint."
)


@pytest.fixture
def interview(owner):
    interview = make_interview(owner)
    ask(interview, "Tell me about a migration you led.", Turn.Kind.INTRODUCTION)
    return interview


def post_answer(client, interview, **fields):
    data = {"answer": ANSWER, "after_index": 0, **fields}
    response = client.post(reverse("submit_answer", args=[interview.id]), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return interview.turns.get(index=1)


def words_with_pause(pause):
    """ANSWER's words at 150 a minute (0.3 s each, 0.1 s apart), with `pause`
    seconds of silence after the 30th word, as a transcriber reports them."""
    out, t = [], 0.0
    for i, word in enumerate(words_of(ANSWER)):
        if i == 30:
            t += pause - 0.1
        out.append([word, round(t, 2), round(t + 0.3, 2)])
        t += 0.4
    return out


# ----- saving and validating -----


def test_it_saves_the_thinking_time_and_what_sent_a_spoken_answer(owner_client, interview):
    answer = post_answer(
        owner_client, interview, source="live_voice", speaking_seconds="24.5", thinking_seconds="9.25", ended_by="model"
    )
    assert (answer.source, answer.speaking_seconds, answer.thinking_seconds, answer.ended_by) == ("live_voice", 24.5, 9.25, "model")


@pytest.mark.parametrize("ended_by", ["model", "button", "timeout"])
def test_it_accepts_every_way_a_spoken_answer_ends(owner_client, interview, ended_by):
    assert post_answer(owner_client, interview, source="live_voice", ended_by=ended_by).ended_by == ended_by


def test_a_pause_free_answer_has_zero_thinking_time(owner_client, interview):
    answer = post_answer(owner_client, interview, source="live_voice", speaking_seconds="20", thinking_seconds="0", ended_by="button")
    assert answer.thinking_seconds == 0.0


@pytest.mark.parametrize(
    "value", ["NaN", "nan", "inf", "-inf", "1e999", "-0.5", "3600.5", "99999999", "abc", "", "9" * 5000, "1" + "0" * 40]
)
def test_it_ignores_impossible_thinking_times(owner_client, interview, value):
    answer = post_answer(owner_client, interview, source="live_voice", thinking_seconds=value, ended_by="model")
    assert answer.thinking_seconds is None
    assert answer.text == ANSWER and answer.ended_by == "model"  # the answer itself is kept


@pytest.mark.parametrize("value", ["admin", "MODEL", "model ", "x" * 5000, "typed", "' OR 1=1 --"])
def test_it_ignores_unknown_ways_of_ending(owner_client, interview, value):
    answer = post_answer(owner_client, interview, source="live_voice", thinking_seconds="3", ended_by=value)
    assert answer.ended_by == ""
    assert answer.thinking_seconds == 3.0


def test_typed_answers_have_no_thinking_time_or_ending(owner_client, interview):
    answer = post_answer(owner_client, interview, source="typed", speaking_seconds="20", thinking_seconds="5", ended_by="model")
    assert (answer.source, answer.speaking_seconds, answer.thinking_seconds, answer.ended_by) == ("typed", None, None, "")


def test_the_model_drops_implausible_figures_whoever_calls_it(interview):
    turn = interview.accept_answer(
        ANSWER, 0, source="live_voice", speaking_seconds=float("nan"), thinking_seconds=-3.0, ended_by="button"
    )
    assert (turn.speaking_seconds, turn.thinking_seconds, turn.ended_by) == (None, None, "button")
    assert Turn.voice_details("uploaded_audio", 10.0, 4.0, "model") == {
        "speaking_seconds": 10.0, "thinking_seconds": 4.0, "ended_by": ""  # only a live answer is "sent by" something
    }
    assert Turn.voice_details("live_voice", True, 4, "timeout")["speaking_seconds"] is None  # a bool is not a duration


def test_an_uploaded_recording_measures_its_own_pauses(owner_client, interview, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    task = SpeechTask.objects.create(
        interview=interview,
        kind=SpeechTask.Kind.STT_BATCH,
        status=SpeechTask.Status.COMPLETED,
        # speaking_seconds as speech.tasks stores it: the first word to the last, the pause included.
        result={"path": "uploads/a.audio", "text": ANSWER, "words": words_with_pause(20.0), "speaking_seconds": 43.8},
    )
    answer = post_answer(
        owner_client, interview, source="typed", speech_task=str(task.id), thinking_seconds="500", ended_by="model"
    )
    assert answer.source == "uploaded_audio"
    assert answer.speaking_seconds == pytest.approx(23.8, abs=0.01)
    assert answer.thinking_seconds == pytest.approx(20.0, abs=0.01)
    assert answer.ended_by == ""


def test_speaking_and_thinking_split_word_times_at_one_second_gaps():
    words = [["a", 0.5, 1.0], ["b", 1.5, 2.0], ["c", 3.0, 3.5], ["d", 10.0, 11.0]]
    # 0.5 s gap is speech; 1.0 s and 6.5 s gaps are thinking; leading silence is neither.
    assert speaking_and_thinking(words) == (3.0, 7.5)
    assert speaking_and_thinking([]) == (0.0, 0.0)
    assert speaking_and_thinking([["x", "bad", 1], ["y", 2.0, 1.0], ["z"], ["w", 1.0, 2.0]]) == (1.0, 0.0)


# ----- pace and communication -----


def coached(interview, **voice):
    turn = interview.accept_answer(ANSWER, interview.last_turn().index, **voice)
    prepared = coaching.prepare(turn.pk)
    _, answer, question, metrics, ctx = prepared
    result = async_to_sync(LocalEngine().coach)(ctx, question, answer.text, metrics)
    return metrics, result.scores["communication"]["score"]


def test_pace_uses_speaking_time_so_a_long_pause_costs_nothing(owner):
    quick, pausing, uploaded = (make_interview(owner) for _ in range(3))
    for each in (quick, pausing, uploaded):
        ask(each, "Tell me about a migration you led.", Turn.Kind.INTRODUCTION)
    quick_metrics, quick_score = coached(quick, source="live_voice", speaking_seconds=24.0, thinking_seconds=0.0)
    pause_metrics, pause_score = coached(pausing, source="live_voice", speaking_seconds=24.0, thinking_seconds=45.0)
    speaking, thinking = speaking_and_thinking(words_with_pause(45.0))
    upload_metrics, upload_score = coached(uploaded, source="uploaded_audio", speaking_seconds=speaking, thinking_seconds=thinking)
    assert len(words_of(ANSWER)) == 60
    assert quick_metrics["words_per_minute"] == pause_metrics["words_per_minute"] == 150.0
    assert 145 <= upload_metrics["words_per_minute"] <= 155  # not the 53 wpm of 60 words over 68 s of wall time
    assert pause_score == quick_score == upload_score
    # And the same answer over its wall time would have been marked down: the
    # check above is not vacuous.
    slow = make_interview(owner)
    ask(slow, "Tell me about a migration you led.", Turn.Kind.INTRODUCTION)
    slow_metrics, slow_score = coached(slow, source="live_voice", speaking_seconds=69.0)
    assert slow_metrics["words_per_minute"] < 100 and slow_score < quick_score


# ----- report, exports, staff page -----


@pytest.fixture
def finished(owner):
    interview = make_interview(owner)
    ask(interview, "Tell me about a migration you led.", Turn.Kind.INTRODUCTION)
    first = interview.accept_answer(ANSWER, 0, source="live_voice", speaking_seconds=24.0, thinking_seconds=12.4, ended_by="model")
    ask(interview, "What would you do differently?")
    second = interview.accept_answer("Plan the cut-over earlier.", 2, source="live_voice", speaking_seconds=2.0, thinking_seconds=6.0, ended_by="button")
    ask(interview, "And how did you test it?")
    third = interview.accept_answer("With a parallel run.", 4)  # typed
    for turn in (first, second, third):
        ready_feedback(turn)
    interview.add_interviewer_turn(Turn.Kind.CLOSING, "Thank you.")
    Interview.objects.filter(pk=interview.pk).update(
        summary={"metrics": {"answers": 3, "average_words": 20, "filler_count": 0, "filler_rate": 0}},
        summary_status=Interview.SummaryStatus.READY,
    )
    return Interview.objects.get(pk=interview.pk)


def test_the_report_shows_thinking_time_per_answer_and_in_total(owner_client, finished):
    page = owner_client.get(reverse("interview_report", args=[finished.id])).content.decode()
    assert page.count('class="small muted m-0 thinking-time"') == 2  # the typed answer has none
    assert "Thinking time: 12 s · speaking 24 s" in page and "Thinking time: 6 s · speaking 2 s" in page
    assert "Thinking time in spoken answers: 18 s in all." in page
    assert report.page_context(finished)["thinking_seconds"] == 18.4


def test_the_report_has_no_thinking_line_without_spoken_answers(owner_client, owner):
    interview = make_interview(owner)
    ask(interview, "Tell me about a migration you led.", Turn.Kind.INTRODUCTION)
    ready_feedback(interview.accept_answer("Typed.", 0))
    interview.end_early()
    Interview.objects.filter(pk=interview.pk).update(summary={"metrics": {"answers": 1}}, summary_status="ready")
    page = owner_client.get(reverse("interview_report", args=[interview.id])).content.decode()
    assert "thinking-total" not in page and "Thinking time" not in page


def test_the_exports_carry_thinking_time_and_what_sent_each_answer(owner_client, finished):
    data = json.loads(owner_client.get(reverse("report_download", args=[finished.id, "json"])).content)
    answers = [t for t in data["interview"]["turns"] if t["speaker"] == "candidate"]
    assert [(t["thinking_seconds"], t["ended_by"]) for t in answers] == [(12.4, "model"), (6.0, "button"), (None, "")]
    markdown = owner_client.get(reverse("report_download", args=[finished.id, "md"])).content.decode()
    assert markdown.count("Thinking time:") == 2 and "Thinking time: 12 s (not counted against pace)" in markdown
    assert turn_as_dict(finished.turns.get(index=1))["ended_by"] == "model"


def test_the_staff_page_counts_spoken_answers_by_what_sent_them(client, staff, owner):
    ways = ["model", "model", "model", "button", "button", "timeout", ""]
    for ended_by in ways:
        interview = make_interview(owner)
        ask(interview, "Q?", Turn.Kind.INTRODUCTION)
        interview.accept_answer("A spoken answer.", 0, source="live_voice", speaking_seconds=3.0, ended_by=ended_by)
    typed = make_interview(owner)
    ask(typed, "Q?", Turn.Kind.INTRODUCTION)
    typed.accept_answer("Typed.", 0, ended_by="model")  # dropped: typed answers are not counted
    client.force_login(staff)
    response = client.get("/staff/")
    c = response.context
    assert {row["key"]: row["n"] for row in c["sent_by"]} == {"model": 3, "button": 2, "timeout": 1}
    assert c["sent_otherwise"] == 1
    page = response.content.decode()
    assert 'id="stat-sent-model">3<' in page and 'id="stat-sent-button">2<' in page
    assert 'id="stat-sent-timeout">1<' in page and 'id="stat-sent-other">1<' in page
    assert "Turn detector" in page and "Long timeout" in page


def test_the_answer_form_carries_the_voice_fields(owner_client, interview):
    page = owner_client.get(reverse("interview_room", args=[interview.id])).content.decode()
    assert 'name="thinking_seconds"' in page and 'name="ended_by"' in page
    assert "Pause to think as long as you like" not in page
    assert "asks “Are you done?” before sending" in page


def test_an_unknown_speech_task_leaves_the_posted_figures(owner_client, interview):
    answer = post_answer(owner_client, interview, source="live_voice", speech_task=str(uuid.uuid4()), thinking_seconds="2.5", ended_by="timeout")
    assert (answer.source, answer.thinking_seconds, answer.ended_by) == ("live_voice", 2.5, "timeout")
