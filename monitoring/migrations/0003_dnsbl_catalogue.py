# Loads the catalogue of DNS block lists. The data is frozen next to this migration
# (_catalogue_0003.py): the live catalogue moved to the dnsbl app and may change, a migration may not.
from django.db import migrations

from monitoring.migrations._catalogue_0003 import load_catalogue


def load(apps, schema_editor):
    load_catalogue(apps.get_model("monitoring", "DnsblZone"))


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial"), ("monitoring", "0002_load")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
