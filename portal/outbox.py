"""What the mail outbox (`portal.notices`) and the webhook outbox (`portal.webhooks`) share: a
row is claimed for delivery by one worker with a conditional UPDATE, and the sweep finds the
rows due again. A row has `state`, `attempts`, `next_attempt_at` and `claimed_at`; an `Outbox`
names its model and which of its states mean pending, being sent and to be retried."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

# A pending row whose message to the workers was lost with Redis is taken up after this long.
LOST_AFTER = timedelta(seconds=30)
# How long after each failed attempt a row is tried again: growing, then hourly.
RETRY_DELAYS = [timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30),
                timedelta(hours=1)]


def retry_delay(attempts: int) -> timedelta:
    """How long after its `attempts`-th attempt failed a row is tried again."""
    return RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]


@dataclass(frozen=True)
class Outbox:
    model: type[models.Model]
    pending: str
    sending: str
    retrying: str
    # A claim older than this was a worker's that died before recording the result.
    claim_expires: timedelta

    def claim(self, pk: int) -> bool:
        """Claim the row if it is pending, due for a retry, or claimed by a worker that died;
        False when it is delivered or given up already, being sent, or not due yet."""
        now = timezone.now()
        claimable = Q(state=self.pending) | Q(state=self.retrying, next_attempt_at__lte=now) | Q(
            state=self.sending, claimed_at__lt=now - self.claim_expires
        )
        claimed = self.model.objects.filter(claimable, pk=pk).update(
            state=self.sending, claimed_at=now, attempts=F("attempts") + 1
        )
        return claimed == 1

    def due(self, *, limit: int = 200) -> list[int]:
        """Rows to try again: retries that are due, rows whose message was lost with Redis
        (pending for a while), and claims of workers that died."""
        now = timezone.now()
        return list(
            self.model.objects.filter(
                Q(state=self.pending, next_attempt_at__lte=now - LOST_AFTER)
                | Q(state=self.retrying, next_attempt_at__lte=now)
                | Q(state=self.sending, claimed_at__lt=now - self.claim_expires)
            ).order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
        )
