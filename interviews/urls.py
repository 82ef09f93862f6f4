from django.urls import path

from interviews import views, voice

urlpatterns = [
    path("", views.home, name="home"),
    path("interviews/", views.dashboard, name="dashboard"),
    path("interviews/new/", views.new_interview, name="new_interview"),
    path("interviews/drill/", views.start_drill, name="start_drill"),
    path("interviews/<uuid:interview_id>/", views.interview_room, name="interview_room"),
    path("interviews/<uuid:interview_id>/answer/", views.submit_answer, name="submit_answer"),
    path("interviews/<uuid:interview_id>/retry/", views.retry_turn, name="retry_turn"),
    path("interviews/<uuid:interview_id>/answers/<int:turn_id>/try-again/", views.try_again, name="try_again"),
    path("interviews/<uuid:interview_id>/answers/<int:turn_id>/practise/", views.practise_question, name="practise_question"),
    path("interviews/<uuid:interview_id>/end/", views.end_interview, name="end_interview"),
    path("interviews/<uuid:interview_id>/delete/", views.delete_interview, name="delete_interview"),
    path("interviews/<uuid:interview_id>/report/", views.interview_report, name="interview_report"),
    path("interviews/<uuid:interview_id>/report/status/", views.report_status, name="report_status"),
    path("interviews/<uuid:interview_id>/report/rebuild/", views.rebuild_report, name="rebuild_report"),
    path(
        "interviews/<uuid:interview_id>/report.<str:fmt>",
        views.report_download,
        name="report_download",
    ),
    path("interviews/<uuid:interview_id>/audio/", voice.upload_answer_audio, name="upload_answer_audio"),
    path("interviews/<uuid:interview_id>/voice/", voice.voice_settings, name="voice_settings"),
    path("speech/tasks/<uuid:task_id>/", voice.task_status, name="speech_task_status"),
    path("speech/tasks/<uuid:task_id>/audio", voice.task_audio, name="speech_task_audio"),
]
