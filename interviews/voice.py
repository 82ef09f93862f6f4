"""The voice side of an interview over HTTP: a recorded answer uploaded for
transcription, the task the page polls meanwhile, the interviewer's
synthesised sentences, and the interview's voice settings. The speech work
itself is the speech app's; these views check that the interview is the
user's."""

import asyncio
import math
import os
import re
import uuid
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from interviews.models import Interview
from interviews.views import _get_interview_for_user
from lib.ratelimit import ratelimit
from speech.models import SpeechTask
from speech.providers.base import SpeechError
from speech.tts import MAX_SPEED, MIN_SPEED, content_type_for

# How long the audio endpoint waits for a sentence still being synthesised.
AUDIO_WAIT_SECONDS = 30


def _get_task_for_user(request, task_id):
    return get_object_or_404(SpeechTask, pk=task_id, interview__owner=request.user)


@require_POST
@login_required
@ratelimit("uploads")
def upload_answer_audio(request, interview_id):
    """Store a recorded answer and queue its transcription on the `stt` cluster."""
    interview = _get_interview_for_user(request, interview_id)
    upload = request.FILES.get("audio")
    error = None
    if not interview.awaiting_answer():
        error = "There is no open question to answer right now."
    elif upload is None:
        error = "Choose an audio file to upload."
    elif upload.size > settings.AUDIO_UPLOAD_MAX_BYTES:
        error = f"The file is too large: the limit is {settings.AUDIO_UPLOAD_MAX_BYTES // (1024 * 1024)} MB."
    if error:
        return render(request, "speech/partials/upload_status.html", {"interview": interview, "error": error})
    relative = Path("uploads") / str(interview.id) / f"{uuid.uuid4()}.audio"
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    from speech.audio import validate_upload  # loads av only where uploads are handled

    try:
        info = validate_upload(str(target), settings.AUDIO_UPLOAD_MAX_SECONDS)
    except SpeechError as exc:
        target.unlink(missing_ok=True)
        return render(request, "speech/partials/upload_status.html", {"interview": interview, "error": str(exc)})
    task = SpeechTask.objects.create(
        interview=interview,
        kind=SpeechTask.Kind.STT_BATCH,
        progress=5,
        result={"path": str(relative), "format": info.get("format"), "duration": info.get("duration")},
    )
    from django_q.tasks import async_task

    async_task("speech.tasks.transcribe_upload", str(task.id), cluster="stt", task_name=f"stt-{task.id}")
    return render(request, "speech/partials/upload_status.html", {"interview": interview, "task": task})


@require_GET
@login_required
def task_status(request, task_id):
    """Polled by the page while an upload is transcribed."""
    task = _get_task_for_user(request, task_id)
    return render(request, "speech/partials/upload_status.html", {"interview": task.interview, "task": task})


@require_POST
@login_required
def voice_settings(request, interview_id):
    interview = _get_interview_for_user(request, interview_id)
    speak = request.POST.get("speak_questions") == "on"
    try:
        speed = float(request.POST.get("speech_speed", interview.speech_speed))
    except ValueError:
        speed = interview.speech_speed
    if not math.isfinite(speed):  # float() reads "nan" and "inf"; NaN slips through min/max
        return HttpResponse(f"The speech speed must be a number from {MIN_SPEED} to {MAX_SPEED}.", status=400, content_type="text/plain")
    speed = min(max(speed, MIN_SPEED), MAX_SPEED)
    Interview.objects.filter(pk=interview.pk).update(speak_questions=speak, speech_speed=speed)
    return HttpResponse(status=204)


@require_GET
@login_required
async def task_audio(request, task_id):
    """The audio of a synthesised sentence; waits briefly if it is still being made.

    Supports single byte ranges, which mobile Safari requires for <audio>.
    """
    user = await request.auser()
    for _ in range(int(AUDIO_WAIT_SECONDS / 0.05)):
        task = await SpeechTask.objects.filter(pk=task_id, interview__owner_id=user.pk, kind=SpeechTask.Kind.TTS).afirst()
        if task is None:
            raise Http404("No such audio.")
        if task.status == SpeechTask.Status.COMPLETED:
            break
        if task.status == SpeechTask.Status.ERROR:
            return HttpResponse(task.error or "Speech failed.", status=502, content_type="text/plain")
        await asyncio.sleep(0.05)
    else:
        return HttpResponse("The audio is taking too long.", status=504, content_type="text/plain")
    path = Path(settings.MEDIA_ROOT) / task.result["path"]
    return await sync_to_async(_ranged_file_response)(request, path)


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _ranged_file_response(request, path):
    try:
        size = os.path.getsize(path)
    except OSError:
        raise Http404("No such audio.") from None
    content_type = content_type_for(path)
    match = _RANGE.match(request.headers.get("Range", ""))
    if not match or (not match.group(1) and not match.group(2)):
        response = FileResponse(open(path, "rb"), content_type=content_type)
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = "private, max-age=3600"
        return response
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    else:
        start, end = max(size - int(last), 0), size - 1
    if start > end or start >= size:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    with open(path, "rb") as f:
        f.seek(start)
        body = f.read(end - start + 1)
    response = HttpResponse(body, status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response
