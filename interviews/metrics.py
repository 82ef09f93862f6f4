"""The interviews app's gauge for /metrics (lib.metrics holds the counters).

Registered on import, by InterviewsConfig.ready()."""

import logging

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

from interviews.models import Interview
from lib.metrics import on_event_loop

log = logging.getLogger(__name__)


class ActiveInterviewsCollector:
    """Interviews in progress, read from the database at scrape time, so every
    process reports the same truth."""

    def describe(self):
        # Registering must not touch the database: describe the family empty.
        return [GaugeMetricFamily("interviewer_interviews_active", "Interviews in progress.")]

    def collect(self):
        if on_event_loop():
            return
        try:
            active = Interview.objects.filter(status=Interview.Status.ACTIVE).count()
        except Exception as exc:  # no database (yet): say nothing rather than fail the scrape
            log.warning("metrics: cannot count active interviews: %s", type(exc).__name__)
            return
        family = GaugeMetricFamily("interviewer_interviews_active", "Interviews in progress.")
        family.add_metric([], active)
        yield family


REGISTRY.register(ActiveInterviewsCollector())
