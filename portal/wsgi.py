from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

# A devices CA that DEVICE_CA_KEY_PASSPHRASE cannot open stops the start here, with a message naming the
# setting, rather than on the first certificate issued (docs/devices.md).
from accounts.devices.ca import check_passphrase  # noqa: E402

check_passphrase()
