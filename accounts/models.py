from django.conf import settings
from django.db import models


class Profile(models.Model):
    """A candidate's defaults for new interviews."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    default_resume = models.TextField(blank=True, max_length=20_000)
    preferred_style = models.CharField(max_length=20, default="formal")
    preferred_difficulty = models.CharField(max_length=20, default="medium")

    def __str__(self):
        return f"Profile of {self.user}"

    @classmethod
    def for_user(cls, user):
        profile, _ = cls.objects.get_or_create(user=user)
        return profile
