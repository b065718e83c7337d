"""How often one person may ask for something that costs the server a lot (a PDF printed by
Chromium, a password-reset mail): counted in the shared cache (Redis), so that every web process
counts together, in fixed windows of time."""

import time

from django.core.cache import caches
from django.http import HttpResponse


def wait_for(scope: str, who: str, rate: tuple[int, int]) -> int:
    """Count one use of `scope` by `who`, allowed `rate` = (times, per seconds). 0 when it is
    within the rate; else how many seconds until the window turns and they may ask again."""
    times, seconds = rate
    now = int(time.time())
    window = now - now % seconds
    key, cache = f"rate:{scope}:{who}:{window}", caches["shared"]
    if cache.add(key, 1, timeout=seconds + 1):
        return 0
    try:
        used = cache.incr(key)
    except ValueError:  # the window expired between add and incr: this is its first use
        cache.add(key, 1, timeout=seconds + 1)
        return 0
    return 0 if used <= times else window + seconds - now


def too_many(wait: int, what: str) -> HttpResponse:
    """429 with the time to wait, in words and in Retry-After."""
    response = HttpResponse(
        f"Too many {what} in a short time: try again in {wait} second{'s' if wait != 1 else ''}.\n",
        status=429, content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(wait)
    return response
