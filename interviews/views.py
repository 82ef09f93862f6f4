import json
import uuid

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lib.ratelimit import ratelimit
from interviews import progress
from interviews import report as reports
from interviews import turns
from interviews.engine.analysis import speaking_and_thinking
from interviews.forms import POPULAR_ROLES, NewInterviewForm
from interviews.models import AnswerRejected, Interview, Turn
from interviews.sockets import DELETED, close_sockets
from speech.models import SpeechTask


def _get_interview_for_user(request, interview_id):
    """The interview if it belongs to the user; 404 for everyone else."""
    return get_object_or_404(Interview, pk=interview_id, owner=request.user)


# Async views reach the ORM through asgiref's sync_to_async, not Channels'
# database_sync_to_async: the request already manages its connection, and
# closing it mid-request would break the request's transaction.
async def _aget_interview_for_user(request, interview_id):
    user = await request.auser()
    try:
        return await Interview.objects.aget(pk=interview_id, owner_id=user.pk)
    except Interview.DoesNotExist:
        raise Http404("No such interview.") from None


@require_GET
def home(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "home.html")


@require_GET
@login_required
def dashboard(request):
    interviews = request.user.interviews.only(
        "id", "owner_id", "job_role", "company", "status", "created_at", "overall_score", "summary_status", "length_mode", "focus",
        "interview_type",
    )
    history = progress.for_user(request.user)
    context = {"interviews": interviews, "progress": history, "charts": progress.charts(history)}
    return render(request, "interviews/dashboard.html", context)


@require_POST
@login_required
@ratelimit("interviews")
def start_drill(request):
    """Start "Drill my weak spots": an interview aimed at the weaknesses of the candidate's reports."""
    interview = progress.start_drill(request.user)
    if interview is None:
        messages.info(request, "Finish an interview first: a drill is built from your reports.")
        return redirect("dashboard")
    return redirect("interview_room", interview.id)


@require_http_methods(["GET", "POST"])
@login_required
@ratelimit("interviews")
def new_interview(request):
    if request.method == "POST":
        form = NewInterviewForm(request.POST, request.FILES)
        if form.is_valid():
            interview = form.save(commit=False)
            interview.owner = request.user
            interview.save()
            return redirect("interview_room", interview.id)
    else:
        # The candidate's saved defaults (accounts' Profile), reached through
        # the user so that interviews need not import the layer above it.
        profile = getattr(request.user, "profile", None)
        form = NewInterviewForm(
            initial={
                "resume": profile.default_resume if profile else "",
                "style": profile.preferred_style if profile else Interview.Style.FORMAL,
                "difficulty": profile.preferred_difficulty if profile else Interview.Difficulty.MEDIUM,
                "length_mode": Interview.LengthMode.QUESTIONS,
                "mode": Interview.Mode.PRACTICE,
                "interview_type": Interview.Type.MIXED,
            }
        )
    return render(request, "interviews/new.html", {"form": form, "popular_roles": POPULAR_ROLES})


@require_GET
@login_required
def interview_room(request, interview_id):
    interview = _get_interview_for_user(request, interview_id)
    if interview.status != Interview.Status.ACTIVE and request.GET.get("view") != "transcript":
        return redirect("interview_report", interview.id)
    conversation = interview.turns.select_related("feedback").order_by("index")
    context = {
        "interview": interview,
        "conversation": conversation,
        "speeds": [0.75, 1.0, 1.25, 1.5],
    }
    return render(request, "interviews/room.html", context)


@require_POST
@login_required
@ratelimit("answers")
async def submit_answer(request, interview_id):
    interview = await _aget_interview_for_user(request, interview_id)
    text = request.POST.get("answer", "")
    voice = await _voice_details(interview, request.POST)
    try:
        after_index = int(request.POST.get("after_index", ""))
        if "\x00" in text:  # PostgreSQL refuses NUL in text; SQLite would store it
            raise AnswerRejected("Your answer contains a null character; remove it and send again.")
        turn = await sync_to_async(interview.accept_answer)(text, after_index, **voice)
    except (ValueError, AnswerRejected) as exc:
        message = str(exc) if isinstance(exc, AnswerRejected) else "This form is out of date: reload the page."
        fragments = await sync_to_async(_answer_area)(interview.pk, message, text)
        if not request.htmx:
            return HttpResponse(message, status=409)
        return HttpResponse(fragments)
    turns.schedule(turns.after_answer(interview.pk, turn.pk))
    fragments = await sync_to_async(_fragments_after_answer)(interview.pk, turn)
    await turns.publish_quietly(interview.pk, {"event": "answer.added", **fragments})
    if not request.htmx:
        return redirect("interview_room", interview.pk)
    oob_turn = f'<div hx-swap-oob="beforeend:#conversation">{fragments["turn"]}</div>'
    return HttpResponse(fragments["answer_area"] + oob_turn)


async def _voice_details(interview, data):
    """How a voice answer was given: source, speaking and thinking time, what
    sent it, and the recording, if any. The model drops implausible figures."""
    source = data.get("source", Turn.Source.TYPED)
    if source not in Turn.Source.values:
        source = Turn.Source.TYPED
    details = {
        "source": source,
        "speaking_seconds": _posted_seconds(data.get("speaking_seconds")),
        "thinking_seconds": _posted_seconds(data.get("thinking_seconds")),
        "ended_by": data.get("ended_by", "")[:20],
    }
    try:
        task_id = uuid.UUID(data.get("speech_task", ""))
    except ValueError:
        return details
    task = await SpeechTask.objects.filter(
        pk=task_id, interview=interview, kind=SpeechTask.Kind.STT_BATCH, status=SpeechTask.Status.COMPLETED
    ).afirst()
    if task is not None:
        # A recording's own word times say how long it spoke and paused; the
        # span from first word to last would count its pauses as speech.
        speaking, thinking = speaking_and_thinking(task.result.get("words") or [])
        details.update(source=Turn.Source.UPLOADED_AUDIO, audio_name=task.result.get("path", ""), ended_by="")
        details["speaking_seconds"] = speaking or details["speaking_seconds"] or task.result.get("speaking_seconds")
        details["thinking_seconds"] = thinking if speaking else None
    return details


def _posted_seconds(value):
    """A number of seconds posted by the page, or None; its range is the model's to check."""
    try:
        return float((value or "")[:32])
    except ValueError:
        return None


def _answer_area(interview_id, error, text):
    interview = Interview.objects.get(pk=interview_id)
    return render_to_string(
        "interviews/partials/answer_area.html", {"interview": interview, "answer_error": error, "draft": text}
    )


def _fragments_after_answer(interview_id, turn):
    # The interview afresh: saving the answer moved its clock (elapsed_seconds).
    return turns.room_fragments(Interview.objects.get(pk=interview_id), turn)


@require_POST
@login_required
@ratelimit("retries")
async def retry_turn(request, interview_id):
    interview = await _aget_interview_for_user(request, interview_id)
    await Interview.objects.filter(pk=interview.pk).aupdate(generation_error="")
    turns.schedule(turns.run_interviewer_turn(interview.pk))
    fragments = await sync_to_async(_answer_area)(interview.pk, "", "")
    return HttpResponse(fragments) if request.htmx else redirect("interview_room", interview.pk)


@require_POST
@login_required
@ratelimit("answers")
async def try_again(request, interview_id, turn_id):
    """Practice mode's "Try this question again" on the latest answer's feedback."""
    interview = await _aget_interview_for_user(request, interview_id)
    if not await Turn.objects.filter(pk=turn_id, interview=interview, speaker=Turn.Speaker.CANDIDATE).aexists():
        raise Http404("No such answer.")
    try:
        turn = await sync_to_async(interview.try_again)(turn_id)
    except AnswerRejected as exc:
        if not request.htmx:
            return HttpResponse(str(exc), status=409)
        return HttpResponse(format_html('<p class="error-box" role="alert">{}</p>', str(exc)))
    fragments = await sync_to_async(_fragments_after_answer)(interview.pk, turn)
    # Every tab, this one included, swaps the withdrawn question for this one.
    await turns.publish_quietly(interview.pk, {"event": "turn.replaced", **fragments})
    if interview.speak_questions:
        speaker = turns.Speaker(interview.pk, turn.index, interview.speech_speed)
        await speaker.feed(turn.text)
        await speaker.flush()
    if not request.htmx:
        return redirect("interview_room", interview.pk)
    return HttpResponse(status=204)


@require_POST
@login_required
@ratelimit("interviews")
def practise_question(request, interview_id, turn_id):
    """From the report: a new practice interview of one question, its answer an
    attempt linked to this one. Not while the interview runs: a realistic
    interview gives no feedback until its end."""
    interview = _get_interview_for_user(request, interview_id)
    answer = get_object_or_404(Turn, pk=turn_id, interview=interview, speaker=Turn.Speaker.CANDIDATE)
    if interview.is_active:
        return HttpResponse("Finish the interview first: practise its questions from the report.", status=409)
    practice = interview.practise_question(answer)
    return redirect("interview_room", practice.id)


@require_POST
@login_required
def end_interview(request, interview_id):
    interview = _get_interview_for_user(request, interview_id)
    if interview.end_early():
        turns.enqueue_report(interview.id)
        messages.success(request, "Interview ended. Your report is being prepared.")
    url = interview.get_report_url()
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@require_POST
@login_required
def delete_interview(request, interview_id):
    interview = _get_interview_for_user(request, interview_id)
    interview.delete_with_files()  # its own transaction: committed when it returns
    close_sockets(request.user.pk, DELETED, interview_id)
    messages.success(request, "Interview deleted.")
    return redirect("dashboard")


@require_GET
@login_required
def interview_report(request, interview_id):
    interview = _get_interview_for_user(request, interview_id)
    if interview.status == Interview.Status.ACTIVE:
        return redirect("interview_room", interview.id)
    return render(request, "interviews/report.html", reports.page_context(interview))


@require_GET
@login_required
def report_status(request, interview_id):
    """Polled by the report page while the report builds."""
    interview = _get_interview_for_user(request, interview_id)
    if interview.summary_status == Interview.SummaryStatus.READY:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "interviews/partials/report_status.html", {"interview": interview})


@require_POST
@login_required
@ratelimit("reports")
def rebuild_report(request, interview_id):
    """Build a failed or missing report again; a built or queued one is left alone,
    since each build is a model call. One conditional update, so a double click queues one."""
    interview = _get_interview_for_user(request, interview_id)
    queued = (
        Interview.objects.filter(
            pk=interview.pk, summary_status__in=[Interview.SummaryStatus.ERROR, Interview.SummaryStatus.NONE]
        )
        .exclude(status=Interview.Status.ACTIVE)
        .update(summary_status=Interview.SummaryStatus.PENDING, summary_error="")
    )
    if queued:
        turns.enqueue_report(interview.id)
    return redirect("interview_report", interview.id)


@require_GET
@login_required
def report_download(request, interview_id, fmt):
    interview = _get_interview_for_user(request, interview_id)
    if fmt not in ("md", "json") or interview.summary_status != Interview.SummaryStatus.READY:
        raise Http404("No such report.")
    stamp = timezone.localdate(interview.created_at).isoformat()
    if fmt == "json":
        body = json.dumps(reports.as_json(interview), indent=2, ensure_ascii=False)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="interview-report-{stamp}.json"'
    else:
        response = HttpResponse(reports.as_markdown(interview), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="interview-report-{stamp}.md"'
    return response
