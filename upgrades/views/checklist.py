"""A request's checklist items (htmx partials) and their attachments."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from upgrades import evidence, selectors
from upgrades.forms import EvidenceForm, ReasonForm
from upgrades.services import checklist
from upgrades.workflow import EDITABLE_STATES, REVIEWABLE_STATES, WorkflowError


def _item_response(request, item, *, form=None, editing=False, error="", status=200):
    upgrade = item.request
    items = selectors.checklist_of(upgrade)
    fresh = next((candidate for candidate in items if candidate.pk == item.pk), item)
    context = {
        "item": fresh, "upgrade": upgrade, "form": form or EvidenceForm(initial={"text": fresh.evidence}),
        "editing": editing, "error": error, "progress": selectors.progress_of(items),
        "can_edit": upgrade.state in EDITABLE_STATES,
        "can_review": upgrade.state in REVIEWABLE_STATES and upgrade.assignee_id == request.user.pk,
        "reason_form": ReasonForm(), "oob_progress": True,
    }
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(f"{_detail_url(upgrade)}#item-{item.pk}")
    return render(request, "upgrades/partials/item.html", context, status=status)


def _detail_url(upgrade) -> str:
    return reverse("request-detail", args=[upgrade.pk])


@require_GET
@login_required
def item_detail(request, pk: int):
    item = selectors.item_get(user=request.user, pk=pk)
    return _item_response(request, item, editing=request.GET.get("edit") == "1")


@require_POST
@login_required
def item_provide(request, pk: int):
    item = selectors.item_get(user=request.user, pk=pk)
    form = EvidenceForm(request.POST, request.FILES)
    if not form.is_valid():
        return _item_response(request, item, form=form, editing=True, status=400)
    try:
        checklist.item_provide(item=item, by=request.user, text=form.cleaned_data["text"], files=form.cleaned_data["files"])
    except ValidationError as error:
        for field, errors in error.message_dict.items():
            form.add_error("files" if field == "files" else "text", errors)
        return _item_response(request, item, form=form, editing=True, status=400)
    except WorkflowError as error:
        return _item_response(request, item, error=str(error), status=409)
    return _item_response(request, item)


@require_POST
@login_required
def item_review(request, pk: int, verdict: str):
    item = selectors.item_get(user=request.user, pk=pk)
    try:
        if verdict == "accept":
            checklist.item_accept(item=item, by=request.user)
        elif verdict == "send_back":
            checklist.item_send_back(item=item, by=request.user, reason=request.POST.get("reason", ""))
        else:
            raise Http404
    except (WorkflowError, ValidationError) as error:
        message = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        return _item_response(request, item, error=message, status=409 if isinstance(error, WorkflowError) else 400)
    return _item_response(request, item)


@require_GET
@login_required
def attachment_download(request, pk: int):
    return evidence.download(selectors.attachment_get(user=request.user, pk=pk))


@require_POST
@login_required
def attachment_delete(request, pk: int):
    attachment = selectors.attachment_get(user=request.user, pk=pk)
    item = attachment.item
    try:
        checklist.attachment_delete(attachment=attachment, by=request.user)
    except WorkflowError as error:
        return _item_response(request, item, error=str(error), status=409)
    return _item_response(request, item, editing=True)
