"""An upgrade request's timeline (RequestEvent rows): every move, review and booking of the
upgrade, written by the request's services, the checklist's and the scheduling ones alike, in
the transaction of what it records."""

from portal.models import User
from upgrades.models import RequestEvent, UpgradeRequest


def log(*, upgrade: UpgradeRequest, by: User | None, action: str, reason: str = "", item=None,
        from_state: str = "", to_state: str = "") -> RequestEvent:
    return RequestEvent.objects.create(
        request=upgrade, actor=by, action=action, reason=reason, item=item, from_state=from_state, to_state=to_state
    )
