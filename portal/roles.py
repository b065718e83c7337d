"""What each vendor role may do in Django admin, in one table. Administrators are superusers;
customers never reach the admin."""

from django.contrib.auth.backends import BaseBackend

from portal.choices import Role

_CUSTOMER_MODELS = ["organisation", "contact", "deployment", "servergroup", "server"]

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.SUPPORT: frozenset(
        f"portal.{action}_{model}" for model in _CUSTOMER_MODELS for action in ("view", "add", "change")
    )
    | {"portal.view_user", "portal.view_securityevent", "upgrades.view_release", "upgrades.add_release", "upgrades.change_release",
       "upgrades.view_upgraderequest"}
    | {f"scheduling.{action}_{model}" for model in ("supportregion", "businesshours", "engineer", "engineerhours",
                                                    "timeoff", "blackout") for action in ("view", "add", "change", "delete")}
    | {"scheduling.view_maintenancewindow"},
    Role.ENGINEER: frozenset(f"portal.view_{model}" for model in _CUSTOMER_MODELS)
    | {f"portal.{action}_{model}" for model in ("server", "servergroup") for action in ("add", "change", "delete")}
    | {"upgrades.view_release", "upgrades.view_upgraderequest", "scheduling.view_maintenancewindow",
       "scheduling.view_engineer", "scheduling.view_timeoff", "scheduling.add_timeoff", "scheduling.change_timeoff"},
}


class RolePermissionBackend(BaseBackend):
    """Grants the permissions of a user's role; authenticates nobody."""

    def get_group_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or obj is not None:
            return set()
        return set(ROLE_PERMISSIONS.get(getattr(user_obj, "role", None), ()))
