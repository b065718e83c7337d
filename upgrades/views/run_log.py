"""A run's deployment log beyond the live page's tail: its pages (the live page's and the report's
"show older lines" as an htmx partial, and the log's own page), its search, and its download as
plain text. The same people see them as see the live page (`selectors_runs.run_get`: staff and
the run's customer; 404 for anyone else)."""

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from upgrades import selectors_log, selectors_runs

LOG_PAGE = "upgrades/run_log.html"


class BadNumber(ValueError):
    pass


def _number(request, name: str) -> int | None:
    value = request.GET.get(name, "")
    if value == "":
        return None
    if not value.isdigit():
        raise BadNumber(name)
    return int(value)


def _lines(request) -> int:
    """How many lines the live page has room for (run.js keeps at most LOG_KEPT), up to a page."""
    asked = _number(request, "lines")
    return max(1, min(asked or selectors_log.LOG_TAIL, selectors_log.LOG_TAIL))


@require_GET
@login_required
def run_log(request, pk: int):
    """The log's lines before a line (`before`), after one (`after`), around one (`at`: a search
    result in context), or its tail. htmx asks for the lines before the first one a page shows,
    to put them above it."""
    run = selectors_runs.run_get(user=request.user, pk=pk)
    try:
        before, after, at = _number(request, "before"), _number(request, "after"), _number(request, "at")
        lines = _lines(request)
    except BadNumber as bad:
        return HttpResponseBadRequest(f"“{bad}” must be a line's number.\n", content_type="text/plain; charset=utf-8")
    if request.htmx and before is not None:
        page = selectors_log.log_before(run, before=before, limit=lines)
        return render(request, f"{LOG_PAGE}#older", {"run": run, "page": page})
    if at is not None:
        page = selectors_log.log_around(run, at=at)
    elif after is not None:
        page = selectors_log.log_after(run, after=after)
    else:
        page = selectors_log.log_before(run, before=before or run.next_seq, newer=True)
    return render(request, LOG_PAGE, {"run": run, "page": page, "search": None, "is_vendor": request.user.is_vendor})


@require_GET
@login_required
def run_log_search(request, pk: int):
    """The lines that contain a phrase, a page at a time (`after`: the last match shown), each
    with a link to it among its neighbours. htmx asks for the results alone (the live page)."""
    run = selectors_runs.run_get(user=request.user, pk=pk)
    try:
        after = _number(request, "after") or 0
    except BadNumber as bad:
        return HttpResponseBadRequest(f"“{bad}” must be a line's number.\n", content_type="text/plain; charset=utf-8")
    search = selectors_log.log_search(run, phrase=request.GET.get("q", ""), after=after)
    context = {"run": run, "search": search, "after": after}
    if request.htmx:
        return render(request, f"{LOG_PAGE}#results", context)
    return render(request, LOG_PAGE, {**context, "page": None, "is_vendor": request.user.is_vendor})


async def _async_chunks(chunks):
    """A sync iterator read a chunk at a time in the request's thread, for uvicorn: Django
    serving a sync iterator under ASGI would read it whole into memory first."""
    chunks = iter(chunks)
    read = sync_to_async(next, thread_sensitive=True)
    while (chunk := await read(chunks, None)) is not None:
        yield chunk


@require_GET
@login_required
def run_log_download(request, pk: int):
    """The whole log up to now as a text file, streamed: the server holds one chunk at a time."""
    run = selectors_runs.run_get(user=request.user, pk=pk)
    chunks = (chunk.encode() for chunk in selectors_log.log_text(run, upto=selectors_runs.last_seq(run)))
    response = StreamingHttpResponse(_async_chunks(chunks) if isinstance(request, ASGIRequest) else chunks,
                                     content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="upgrade-log-{run.pk}.txt"'
    response["X-Accel-Buffering"] = "no"  # a proxy passes it on as it comes
    return response
