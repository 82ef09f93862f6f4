from django.apps import AppConfig

from speech.warmup import warm_up_worker


class SpeechConfig(AppConfig):
    name = "speech"

    def ready(self):
        # Imported here: django_q's signals module imports its models, which
        # needs the app registry that is ready only now.
        from django_q.signals import post_spawn

        post_spawn.connect(warm_up_worker, dispatch_uid="speech-warmup")
