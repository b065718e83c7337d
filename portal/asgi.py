import os

import django

from portal.bodylimit import BodyLimit
from portal.handler import Handler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

# Bodies over MAX_REQUEST_BYTES are refused before Django reads them; run events go out frame by frame.
application = BodyLimit(Handler())
