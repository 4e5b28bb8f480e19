"""WSGI entry point (gunicorn mcpadmin.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpadmin.settings")
application = get_wsgi_application()
