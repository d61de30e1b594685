"""Sign-in security (issue 14): one canonical form of every email address, with a unique constraint on it;
the session generation; soft-lockout settings; failures per client network; password reset requests.

Existing addresses that are the same once canonical (``Billy@`` and ``ｂｉｌｌｙ@``, ``kirſten@`` and
``kirsten@``) cannot both stay: sign-in could not tell them apart. The migration then stops with an error
that lists every such group, changing nothing; rename or remove all but one address of each group (admin
or ``manage.py shell``) and run ``migrate`` again.
"""

import contextlib
import unicodedata

import django.core.validators
import django.utils.timezone
from django.db import migrations, models


def canonical(address):
    """Frozen copy of accounts.addresses.canonical as of this migration (NFKC, casefold, IDNA domain)."""
    text = unicodedata.normalize("NFKC", (address or "").strip())
    text = unicodedata.normalize("NFKC", text.casefold())
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


class CanonicalEmailClash(Exception):
    """Accounts whose addresses are the same in canonical form; the message lists them."""


def fill_canonical_emails(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    groups = {}
    for pk, email in User.objects.order_by("pk").values_list("pk", "email").iterator(chunk_size=2000):
        groups.setdefault(canonical(email)[:254], []).append((pk, email))
    clashes = {key: users for key, users in groups.items() if len(users) > 1}
    if clashes:
        lines = [
            f"  {key}: " + ", ".join(f"{email!r} (user id {pk})" for pk, email in users)
            for key, users in sorted(clashes.items())
        ]
        raise CanonicalEmailClash(
            f"{len(clashes)} group(s) of accounts have email addresses that are the same once normalised "
            "(Unicode NFKC, case folded, IDNA domain), so sign-in cannot tell them apart:\n"
            + "\n".join(lines)
            + "\nNothing was changed. Give each account in a group its own address or remove the extra "
            "accounts (Django admin or manage.py shell), then run migrate again."
        )
    for key, [(pk, _email)] in groups.items():
        User.objects.filter(pk=pk).update(canonical_email=key)
    SignInFailure = apps.get_model("accounts", "SignInFailure")
    for email in SignInFailure.objects.values_list("email", flat=True).distinct():
        if canonical(email)[:254] != email:
            SignInFailure.objects.filter(email=email).update(email=canonical(email)[:254])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_account_emails_to_outbox"),
    ]

    operations = [
        migrations.CreateModel(
            name="AccountLock",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("email", models.CharField(max_length=254, unique=True)),
                ("failures", models.PositiveIntegerField()),
                ("locked_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("locked_until", models.DateTimeField(db_index=True)),
            ],
            options={
                "ordering": ["-locked_at"],
            },
        ),
        migrations.CreateModel(
            name="PasswordResetRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("email", models.CharField(db_index=True, max_length=254)),
                ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                ("network", models.CharField(blank=True, db_index=True, max_length=50)),
                ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ("processed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "outcome",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("sent", "Email sent"),
                            ("no_account", "No active account with a password"),
                            ("limited", "Hourly limit reached: no email"),
                        ],
                        max_length=12,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.RemoveField(
            model_name="organisationsettings",
            name="lockout_threshold",
        ),
        migrations.AddField(
            model_name="organisationsettings",
            name="code_failures_alert",
            field=models.PositiveSmallIntegerField(
                default=10,
                help_text="Wrong codes after a correct password before IT staff are alerted.",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000),
                ],
                verbose_name="alert IT staff after wrong codes",
            ),
        ),
        migrations.AddField(
            model_name="organisationsettings",
            name="code_failures_notify",
            field=models.PositiveSmallIntegerField(
                default=3,
                help_text="Wrong codes after a correct password before the person is emailed: someone knows their password.",
                validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(100)],
                verbose_name="tell the person after wrong codes",
            ),
        ),
        migrations.AddField(
            model_name="organisationsettings",
            name="hard_lock_after",
            field=models.PositiveSmallIntegerField(
                default=20,
                help_text="Failed sign-ins for one account that lock it (the person is emailed how to unlock it).",
                validators=[
                    django.core.validators.MinValueValidator(5),
                    django.core.validators.MaxValueValidator(1000),
                ],
                verbose_name="lock after failures",
            ),
        ),
        migrations.AddField(
            model_name="organisationsettings",
            name="network_captcha_after",
            field=models.PositiveSmallIntegerField(
                default=20,
                help_text="Failed sign-ins from one network (any accounts) after which everyone there is asked for the picture characters. Nobody is locked out by this.",
                validators=[
                    django.core.validators.MinValueValidator(2),
                    django.core.validators.MaxValueValidator(10000),
                ],
                verbose_name="CAPTCHA for a network after failures",
            ),
        ),
        migrations.AddField(
            model_name="organisationsettings",
            name="reset_emails_per_hour",
            field=models.PositiveSmallIntegerField(
                default=3,
                validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(100)],
                verbose_name="password reset emails per person per hour",
            ),
        ),
        migrations.AddField(
            model_name="organisationsettings",
            name="reset_requests_per_hour",
            field=models.PositiveSmallIntegerField(
                default=10,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(10000),
                ],
                verbose_name="password reset requests per network per hour",
            ),
        ),
        migrations.AddField(
            model_name="signinfailure",
            name="network",
            field=models.CharField(blank=True, db_index=True, max_length=50),
        ),
        migrations.AddField(
            model_name="user",
            name="canonical_email",
            field=models.CharField(editable=False, max_length=254, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="user",
            name="session_generation",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(fill_canonical_emails, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="canonical_email",
            field=models.CharField(editable=False, max_length=254, unique=True),
        ),
        migrations.AlterField(
            model_name="organisationsettings",
            name="captcha_after_failures",
            field=models.PositiveSmallIntegerField(
                default=3,
                help_text="Failed sign-ins for one account after which its form also asks for the characters in a picture, and each further try waits longer (1, 2, 4 … up to 60 seconds).",
                validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(100)],
                verbose_name="CAPTCHA after failures",
            ),
        ),
        migrations.AlterField(
            model_name="organisationsettings",
            name="lockout_window_minutes",
            field=models.PositiveSmallIntegerField(
                default=15,
                help_text="Failures count for this long; a locked account unlocks this long after its last failure.",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1440),
                ],
                verbose_name="failure window (minutes)",
            ),
        ),
        migrations.AlterField(
            model_name="signinfailure",
            name="ip_address",
            field=models.GenericIPAddressField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="signinfailure",
            name="step",
            field=models.CharField(
                choices=[("password", "password"), ("otp", "one-time code"), ("reauth", "password while signed in")],
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="webmailsession",
            name="end_reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("signed_out", "Signed out"),
                    ("ended_by_staff", "Ended by IT staff"),
                    ("deactivated", "User deactivated"),
                    ("token_reset", "Token reset"),
                    ("password_changed", "Password changed"),
                ],
                max_length=20,
            ),
        ),
    ]
