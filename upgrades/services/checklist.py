"""The prerequisite checklist of a request: kept in step with the deployment's facts, filled
in by the customer, reviewed by support (S9-S11)."""

from operator import attrgetter

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from portal import access
from portal.models import Contact, User
from upgrades import evidence, versions
from upgrades.checklist import items_for
from upgrades.choices import ItemSection, ItemState
from upgrades.models import ChecklistItem, ItemAttachment, Release, UpgradeRequest
from upgrades.services import notify
from upgrades.services.timeline import log
from upgrades.workflow import EDITABLE_STATES, ITEM_MOVES, REVIEWABLE_STATES, WorkflowError, require_desk, require_reason

# Items whose evidence the portal knows itself; it follows the facts until support accepts it.
_KNOWN = (ItemState.MISSING, ItemState.PROVIDED)
# What of an item the facts decide: a refresh saves the item when one of them changed.
_FOLLOWED = attrgetter("pk", "position", "title", "obsolete", "state", "evidence", "required", "measured")


def checklist_refresh(*, upgrade: UpgradeRequest) -> bool:
    """Bring the checklist in line with the deployment's facts. Items keep their state and
    evidence by key; items that no longer apply become obsolete (kept, not counted); new ones
    are added. Returns whether anything changed."""
    deployment = upgrade.deployment
    specs = items_for(
        deployment=deployment,
        kind=upgrade.kind,
        contacts=list(Contact.objects.filter(organisation_id=deployment.organisation_id)),
        servers=list(deployment.servers.order_by("group__position", "role", "hostname")),
        target=upgrade.release.version,
        dropped_tls=_dropped_tls(upgrade),
    )
    existing = {item.key: item for item in upgrade.items.select_for_update()}
    changed = False
    for position, spec in enumerate(specs, start=1):
        item = existing.pop(spec.key, None)
        if item is None:
            item = ChecklistItem(request=upgrade, key=spec.key)
        before = _FOLLOWED(item)
        item.section, item.position, item.title, item.guidance = spec.section, position, spec.title, spec.guidance
        item.server_id, item.obsolete = spec.server_id, False
        item.required, item.measured = spec.required, spec.measured
        if spec.section == ItemSection.CONTACTS or spec.known_evidence:
            if item.state in _KNOWN:
                # What the portal knows, until support has judged it.
                item.evidence = spec.known_evidence
                item.state = ItemState.PROVIDED if spec.known_evidence else ItemState.MISSING
            elif item.state == ItemState.ACCEPTED and not spec.known_evidence:
                # Accepted, but the fact is gone (the contact was removed): it needs a look again.
                item.evidence, item.state = "", ItemState.MISSING
        elif not spec.measured and item.state == ItemState.PROVIDED and item.provided_by_id is None:
            # Filled in from the records before the item needed a person (S9's did): nobody
            # stands behind it, so it waits for the customer.
            item.evidence, item.state = "", ItemState.MISSING
        if before != _FOLLOWED(item):
            item.save()
            changed = True
    for item in existing.values():
        if not item.obsolete:
            item.obsolete = True
            item.save(update_fields=["obsolete"])
            changed = True
    return changed


def _dropped_tls(upgrade: UpgradeRequest) -> frozenset[str]:
    """The TLS versions no longer offered once the deployment runs the target release: what
    the target and every release between dropped (S1's notes, as data)."""
    current, target = versions.parse(upgrade.from_version), versions.parse(upgrade.release.version)
    return frozenset(
        tls for release in Release.objects.exclude(drops_tls=[]).only("version", "drops_tls")
        if current < versions.parse(release.version) <= target for tls in release.drops_tls
    )


def _editable(item: ChecklistItem, by: User) -> None:
    upgrade = item.request
    if not access.may(by, "checklist.provide", organisation_id=upgrade.deployment.organisation_id):
        raise PermissionDenied
    if upgrade.state not in EDITABLE_STATES:
        raise WorkflowError(f"This request is {upgrade.get_state_display().lower()}: its checklist is closed.")
    if item.obsolete:
        raise WorkflowError("This item no longer applies to the deployment.")


def item_provide(*, item: ChecklistItem, by: User, text: str, files: list[UploadedFile] = ()) -> ChecklistItem:
    """The customer's evidence for one item. Changing an accepted item sends it to review again."""
    _editable(item, by)
    if item.measured:
        raise WorkflowError("This item is measured by the preflight, not filled in: run the preflight.")
    text = text.strip()
    checked = [evidence.check_upload(upload) for upload in files]
    if not text and not checked and not item.attachments.exists():
        raise ValidationError({"evidence": "Describe how this prerequisite is met, or attach a file that shows it."})
    with transaction.atomic(), pghistory.context(user=by.pk):
        locked = ChecklistItem.objects.select_for_update().select_related("request__deployment").get(pk=item.pk)
        locked.evidence, locked.state = text, ITEM_MOVES["provide"].target
        locked.provided_by, locked.provided_at = by, timezone.now()
        locked.review_note = ""
        locked.save()
        for upload in checked:
            ItemAttachment.objects.create(item=locked, uploaded_by=by, **upload)
        event = log(upgrade=locked.request, by=by, action="item_provided", item=locked)
        if locked.request.submitted_at:
            notify.notify(
                event=event, to=notify.support_addresses(locked.request), subject=f"Checklist item updated: {locked.title}",
                lines=[f"{by.full_name} updated “{locked.title}”:", text or "(attachments only)"],
            )
        return locked


def _review(item: ChecklistItem, by: User) -> ChecklistItem:
    require_desk(by, item.request)
    if item.request.state not in REVIEWABLE_STATES:
        raise WorkflowError(f"This request is {item.request.get_state_display().lower()}: nothing to review.")
    if item.obsolete:
        raise WorkflowError("This item no longer applies to the deployment.")
    return item


def item_accept(*, item: ChecklistItem, by: User) -> ChecklistItem:
    _review(item, by)
    with transaction.atomic(), pghistory.context(user=by.pk):
        # Only evidence that is there can be accepted; a change since the page was loaded wins.
        if not _reviewed(item, "accept", by=by, note=""):
            raise WorkflowError(f"“{item.title}” is {item.get_state_display().lower()}: only provided items can be accepted.")
        log(upgrade=item.request, by=by, action="item_accepted", item=item)
        return item


def item_send_back(*, item: ChecklistItem, by: User, reason: str) -> ChecklistItem:
    _review(item, by)
    require_reason(reason, "Say what is missing, so the customer can put it right.")
    with transaction.atomic(), pghistory.context(user=by.pk):
        if not _reviewed(item, "send_back", by=by, note=reason.strip()):
            raise WorkflowError(f"“{item.title}” was already sent back.")
        event = log(upgrade=item.request, by=by, action="item_sent_back", item=item, reason=reason)
        notify.notify(
            event=event, to=notify.customer_addresses(item.request), subject=f"Checklist item sent back: {item.title}",
            lines=[f"{by.full_name} sent back “{item.title}”:", reason.strip()],
        )
        return item


def _reviewed(item: ChecklistItem, move_name: str, *, by: User, note: str) -> bool:
    """Support's verdict on `item`, as a guarded move; `item` is read again either way. False
    when the race was lost (the customer changed the item, another reviewer was first)."""
    move = ITEM_MOVES[move_name]
    updated = ChecklistItem.objects.filter(pk=item.pk, state__in=move.sources).update(
        state=move.target, reviewed_by=by, reviewed_at=timezone.now(), review_note=note
    )
    item.refresh_from_db()
    return updated == 1


def attachment_delete(*, attachment: ItemAttachment, by: User) -> None:
    _editable(attachment.item, by)
    with transaction.atomic(), pghistory.context(user=by.pk):
        attachment.delete()
