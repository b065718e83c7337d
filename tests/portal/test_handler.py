"""The portal's ASGI handler (`portal.handler`) runs a request's middleware and view in the
request's thread in one call: an async view would hold that thread until its coroutine ended."""

from asgiref.sync import iscoroutinefunction
from django.urls import URLPattern, URLResolver, get_resolver


def _views(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def test_every_view_is_synchronous_so_that_the_handler_serves_it_in_one_call():
    views = list(_views(get_resolver().url_patterns))
    assert len(views) > 100  # the portal's pages, the API and the admin
    assert [route for route, view in views if iscoroutinefunction(view)] == []
