"""Work run by the django-q2 cluster."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from interviews import report
from interviews.models import Interview

log = logging.getLogger(__name__)


def build_report(interview_id):
    return report.build(interview_id)


def abandon_idle_interviews():
    """Mark active interviews nobody has touched for INTERVIEW_IDLE_HOURS as abandoned (hourly).

    "Touched" is the newer of updated_at and the last turn: updated_at alone
    does not move when turns are added (they are written with update()). One
    conditional UPDATE, so an interview that gets a turn or finishes meanwhile
    is left alone, and a turn being written (a live lease) is never cut off.
    """
    now = timezone.now()
    cutoff = now - timedelta(hours=settings.INTERVIEW_IDLE_HOURS)
    count = (
        Interview.objects.filter(status=Interview.Status.ACTIVE, updated_at__lt=cutoff)
        .exclude(turns__created_at__gte=cutoff)
        .filter(Q(generating_until__isnull=True) | Q(generating_until__lt=now))
        .update(status=Interview.Status.ABANDONED, generating_until=None, updated_at=now)
    )
    if count:
        log.info("marked %d idle interview(s) abandoned", count)
    return count
