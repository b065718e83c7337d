from celery import shared_task

from portal import notices, webhooks
from portal.dispatch import dispatch


@shared_task(name="portal.notice_deliver")
def notice_deliver_task(notice_id: int) -> str:
    return notices.notice_deliver(notice_id=notice_id)


@shared_task(name="portal.notices_sweep")
def notices_sweep_task() -> int:
    return _send(notices.notices_due(), task="portal.notice_deliver", about="notice")


@shared_task(name="portal.webhook_deliver")
def webhook_deliver_task(delivery_id: int) -> str:
    return webhooks.webhook_deliver(delivery_id=delivery_id)


@shared_task(name="portal.webhooks_sweep")
def webhooks_sweep_task() -> int:
    return _send(webhooks.webhooks_due(), task="portal.webhook_deliver", about="webhook")


def _send(due: list[int], *, task: str, about: str) -> int:
    """A sweep's finds, each handed to its delivery task through the outbox of dispatches."""
    for pk in due:
        dispatch(task, pk, about=f"{about}:{pk}")
    return len(due)
