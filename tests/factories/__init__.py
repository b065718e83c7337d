"""factory_boy factories of the portal's rows, by app. Each makes a valid row with plain defaults;
the demo world (`portal.demo` and the others, seeded for every test) is the stage they add to.

Rows are written directly, as a story's starting point: the moves that make them in the product
(requesting, approving, booking) have stories of their own. A run is the exception: it is made
by the service that makes it, so its plan is the product's."""

from tests.factories.portal import (
    AdminUserFactory, ContactFactory, CustomerUserFactory, DeploymentFactory, EngineerUserFactory,
    OrganisationFactory, ServerFactory, ServerGroupFactory, SupportUserFactory, UserFactory,
)
from tests.factories.scheduling import MaintenanceWindowFactory
from tests.factories.upgrades import ReleaseFactory, RunFactory, UpgradeRequestFactory

__all__ = [
    "AdminUserFactory", "ContactFactory", "CustomerUserFactory", "DeploymentFactory", "EngineerUserFactory",
    "MaintenanceWindowFactory", "OrganisationFactory", "ReleaseFactory", "RunFactory", "ServerFactory",
    "ServerGroupFactory", "SupportUserFactory", "UpgradeRequestFactory", "UserFactory",
]
