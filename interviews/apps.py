from django.apps import AppConfig


class InterviewsConfig(AppConfig):
    name = "interviews"

    def ready(self):
        # Imported here, once the models are loaded (the collector queries them).
        from interviews import metrics  # noqa: F401  (registers the active-interviews gauge)
