from celery import shared_task

from portal import notices, webhooks
from portal.dispatch import dispatch


@shared_task(name="portal.notice_deliver")
def notice_deliver_task(notice_id: int) -> str:
    return notices.notice_deliver(notice_id=notice_id)


@shared_task(name="portal.notices_sweep")
def notices_sweep_task() -> int:
    due = notices.notices_due()
    for notice_id in due:
        dispatch("portal.notice_deliver", notice_id, about=f"notice:{notice_id}")
    return len(due)


@shared_task(name="portal.webhook_deliver")
def webhook_deliver_task(delivery_id: int) -> str:
    return webhooks.webhook_deliver(delivery_id=delivery_id)


@shared_task(name="portal.webhooks_sweep")
def webhooks_sweep_task() -> int:
    due = webhooks.webhooks_due()
    for delivery_id in due:
        dispatch("portal.webhook_deliver", delivery_id, about=f"webhook:{delivery_id}")
    return len(due)
