"""REST API under /api/v1/: the same selectors (tenancy) and services (writes) as the pages."""

from rest_framework import routers

router = routers.DefaultRouter()
router.root_view_name = "api-root"
