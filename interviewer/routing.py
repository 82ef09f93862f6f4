from django.urls import path

from interviews.consumers import InterviewConsumer
from interviews.microphone import SpeechConsumer

websocket_urlpatterns = [
    path("ws/interviews/<uuid:interview_id>/", InterviewConsumer.as_asgi()),
    path("ws/interviews/<uuid:interview_id>/speech/", SpeechConsumer.as_asgi()),
]
