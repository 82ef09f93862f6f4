"""A candidate's data as plain JSON-ready dicts: the "Export my data" download.

Everything is built from the user's own relations, so nobody else's rows can
end up in it. Internal bookkeeping (generation leases, error traces) is left
out; everything the candidate wrote or was told about themselves is in.
"""

from django.db.models import Prefetch
from django.utils import timezone

from accounts.models import Profile
from interviews.export import interview_as_dict, when
from interviews.models import Turn

EXPORT_VERSION = 1


def export_user_data(user):
    profile = Profile.for_user(user)
    interviews = user.interviews.order_by("created_at").prefetch_related(
        Prefetch("turns", queryset=Turn.objects.select_related("feedback").order_by("index"))
    )
    return {
        "export_version": EXPORT_VERSION,
        "exported_at": when(timezone.now()),
        "account": {
            "email": user.email,
            "date_joined": when(user.date_joined),
            "last_login": when(user.last_login),
        },
        "profile": {
            "default_resume": profile.default_resume,
            "preferred_style": profile.preferred_style,
            "preferred_difficulty": profile.preferred_difficulty,
        },
        "interviews": [interview_as_dict(interview) for interview in interviews],
    }
