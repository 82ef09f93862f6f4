from django.apps import AppConfig


class InterviewsConfig(AppConfig):
    name = "interviews"

    def ready(self):
        from interviewer import checks  # noqa: F401  (registers system checks)
