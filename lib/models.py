from django.db import models


class CapSlot(models.Model):
    """One of a cap's concurrent-call slots, for lib.caps without Redis.

    Free when `holder` is empty or the lease (`expires_at`) has run out; rows
    0..limit-1 are created on demand and claimed with a conditional UPDATE.
    """

    name = models.CharField(max_length=60)
    slot = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table speech created before caps moved to lib; kept, so the
        # move changes no database.
        db_table = "speech_capslot"
        constraints = [models.UniqueConstraint(fields=["name", "slot"], name="capslot_name_slot_unique")]

    def __str__(self):
        return f"{self.name}[{self.slot}]"
