"""manage.py setup_schedules: the hourly cleanup schedules, registered idempotently."""

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule


def setup():
    call_command("setup_schedules", stdout=StringIO())


def test_it_registers_the_hourly_cleanup_tasks(db):
    setup()
    rows = {s.name: s for s in Schedule.objects.all()}
    assert {s.func for s in rows.values()} == {"interviews.tasks.abandon_idle_interviews", "interviews.maintenance.prune_old_audio"}
    assert all(s.schedule_type == Schedule.HOURLY and s.repeats == -1 and s.cluster is None for s in rows.values())


def test_it_is_idempotent_and_repairs_edited_schedules(db):
    setup()
    schedule = Schedule.objects.get(func="interviews.maintenance.prune_old_audio")
    later = timezone.now() + timedelta(minutes=37)
    Schedule.objects.filter(pk=schedule.pk).update(schedule_type=Schedule.DAILY, next_run=later)
    setup()
    setup()
    assert Schedule.objects.count() == 2
    schedule.refresh_from_db()
    assert schedule.schedule_type == Schedule.HOURLY
    # A redeploy does not postpone a run that is already planned.
    assert schedule.next_run == later


def test_it_leaves_other_schedules_alone(db):
    Schedule.objects.create(name="someone else's", func="math.floor", args="1.5", schedule_type=Schedule.DAILY)
    setup()
    assert Schedule.objects.filter(name="someone else's", schedule_type=Schedule.DAILY).exists()
    assert Schedule.objects.count() == 3
