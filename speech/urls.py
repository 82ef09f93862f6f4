from django.urls import path

from speech import views

urlpatterns = [
    path("interviews/<uuid:interview_id>/audio/", views.upload_answer_audio, name="upload_answer_audio"),
    path("interviews/<uuid:interview_id>/voice/", views.voice_settings, name="voice_settings"),
    path("speech/tasks/<uuid:task_id>/", views.task_status, name="speech_task_status"),
    path("speech/tasks/<uuid:task_id>/audio", views.task_audio, name="speech_task_audio"),
]
