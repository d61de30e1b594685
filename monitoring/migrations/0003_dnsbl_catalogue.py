# Loads the catalogue of DNS block lists (monitoring/dnsbl_catalogue.py); owned by the DNSBL work.
from django.db import migrations


def load(apps, schema_editor):
    from monitoring.dnsbl_catalogue import load_catalogue

    load_catalogue(apps.get_model("monitoring", "DnsblZone"))


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial"), ("monitoring", "0002_load")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
