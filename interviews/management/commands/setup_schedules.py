"""Register the hourly cleanup tasks with django-q2; safe to run on every deploy.

Each schedule is found by name and brought up to date, so running this again
changes nothing and never duplicates a schedule. The next run is only set when
a schedule is created, so a deploy does not postpone a run that is due.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

SCHEDULES = [
    ("interviews: abandon idle interviews", "interviews.tasks.abandon_idle_interviews"),
    # Found by name: this one keeps its old name so a deploy repoints the existing row.
    ("speech: prune old audio", "interviews.maintenance.prune_old_audio"),
]


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules for the periodic cleanup tasks."

    def handle(self, **options):
        from django_q.models import Schedule

        for name, func in SCHEDULES:
            # cluster=None: only the default cluster's scheduler runs it, never a speech cluster.
            _, created = Schedule.objects.update_or_create(
                name=name,
                defaults={"func": func, "schedule_type": Schedule.HOURLY, "repeats": -1, "cluster": None},
                create_defaults={"func": func, "schedule_type": Schedule.HOURLY, "repeats": -1, "cluster": None, "next_run": timezone.now()},
            )
            self.stdout.write(f"{'created' if created else 'updated'}: {name} ({func}, hourly)")
