"""A person's calendar feed: its secret address made, replaced and revoked by its owner, and
each fetch recorded. The key is returned once, when it is made; only its hash is kept."""

import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal import security
from portal.models import CalendarFeed, User
from portal.tokens import key_hash, key_prefix

KEY_PREFIX = "cal_"  # a calendar key pasted where an API token goes is recognised, and refused
USE_RECORDED_EVERY = timedelta(minutes=1)


def key_new() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def calendar_feed_make(*, by: User) -> tuple[CalendarFeed, str]:
    """`by`'s feed with a new key, and the key: made, or replacing the old key, whose address
    answers 404 from now on (a calendar subscribed to it keeps what it had, and gets no more)."""
    key = key_new()
    with transaction.atomic():
        feed, _ = CalendarFeed.objects.update_or_create(user=by, defaults={
            "key_hash": key_hash(key), "prefix": key_prefix(key), "created_at": timezone.now(),
            "last_used_at": None, "served_etag": "", "changed_at": None,
        })
        security.record("calendar_feed_made", user=by, feed=feed.prefix)
    return feed, key


def calendar_feed_revoke(*, by: User) -> bool:
    """`by`'s feed is gone: its address answers 404. False if there was none (a second press)."""
    with transaction.atomic():
        prefix = CalendarFeed.objects.filter(user=by).values_list("prefix", flat=True).first()
        deleted, _ = CalendarFeed.objects.filter(user=by).delete()
        if deleted:
            security.record("calendar_feed_revoked", user=by, feed=prefix)
        return bool(deleted)


def calendar_feed_served(*, feed: CalendarFeed, etag: str, now: datetime) -> CalendarFeed:
    """A fetch of the feed: when it was last fetched (written at most once a minute), and when
    what it serves last changed (`etag` differs from the last one served). Each is a conditional
    UPDATE, so that concurrent fetches write it once."""
    if feed.served_etag != etag:
        CalendarFeed.objects.filter(pk=feed.pk).exclude(served_etag=etag).update(served_etag=etag, changed_at=now)
        # Another fetch may have written it first: its time is the one kept.
        changed_at = CalendarFeed.objects.filter(pk=feed.pk).values_list("changed_at", flat=True).first()
        feed.served_etag, feed.changed_at = etag, changed_at or now
    if feed.last_used_at is None or now - feed.last_used_at >= USE_RECORDED_EVERY:
        CalendarFeed.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - USE_RECORDED_EVERY), pk=feed.pk
        ).update(last_used_at=now)
        feed.last_used_at = now
    return feed
