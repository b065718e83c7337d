import os

from django.core.asgi import get_asgi_application

from portal.bodylimit import BodyLimit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

# Bodies over MAX_REQUEST_BYTES are refused before Django reads them.
application = BodyLimit(get_asgi_application())
