from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.addresses import MAX_LENGTH, canonical
from accounts.roles import Role, user_can


class Department(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserQuerySet(models.QuerySet):
    def with_email(self, address: str | None) -> UserQuerySet:
        """The user(s) whose address is ``address`` in canonical form (the one way to look a person up)."""
        return self.filter(canonical_email=canonical(address))

    def bulk_create(self, objs, *args, **kwargs):
        # bulk_create skips save(): the canonical form is filled here so that no path leaves it empty.
        objs = list(objs)
        for user in objs:
            user.canonical_email = canonical(user.email)
        return super().bulk_create(objs, *args, **kwargs)


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("role", Role.IT_STAFF)
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(canonical_email=canonical(username))


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address; what they may do follows from ``role``."""

    email = models.EmailField("email address", unique=True)
    # ``email`` in canonical form (accounts.addresses): what sign-in, lockout and uniqueness compare.
    canonical_email = models.CharField(max_length=MAX_LENGTH, unique=True, editable=False)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.EMPLOYEE)
    department = models.ForeignKey(Department, on_delete=models.SET_NULL, null=True, blank=True, related_name="members")
    is_active = models.BooleanField(default=True)
    # Django admin access; only IT staff get it (see accounts.roles "use_admin").
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # OTP enrolment deadline: the grace period counts from here (account creation, or an IT token reset).
    otp_grace_start = models.DateTimeField("OTP grace period start", default=timezone.now)
    # When IT staff were told this user is overdue (cleared by a token reset).
    otp_overdue_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Part of the session hash: raised on deactivation, so no session from before it works again.
    session_generation = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()
        key = canonical(self.email)
        if len(key) > MAX_LENGTH:
            raise ValidationError({"email": "This address is too long."})
        if User.objects.with_email(self.email).exclude(pk=self.pk).exists():
            raise ValidationError({"email": "A user with this email address already exists."})

    def save(self, *args, **kwargs) -> None:
        self.canonical_email = canonical(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "canonical_email"}
        super().save(*args, **kwargs)

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django's hash (of the password hash) for generation 0, so sessions from before this field stay valid.
        value = self.password if not self.session_generation else f"{self.password}/{self.session_generation}"
        key_salt = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
        return salted_hmac(key_salt, value, secret=secret, algorithm="sha256").hexdigest()

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self) -> str:
        return self.first_name or self.email

    def can(self, capability: str) -> bool:
        return user_can(self, capability)

    # The Django admin asks Django's permission tables; here the role decides (accounts.roles
    # "use_admin"): IT staff may use every admin page, nobody else any. ModelAdmins that must stay
    # read-only (the audit log, token secrets) refuse changes themselves.
    def has_perm(self, perm: str, obj: object = None) -> bool:
        return user_can(self, "use_admin") or super().has_perm(perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        return user_can(self, "use_admin") or super().has_module_perms(app_label)

    @property
    def is_it_staff(self) -> bool:
        return self.role == Role.IT_STAFF

    @property
    def is_executive(self) -> bool:
        return self.role == Role.EXECUTIVE


class AuditEvent(models.Model):
    """One thing that happened, for the audit log. Written through ``accounts.audit.record``; never edited."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    # Kept as text too, so the log still says who after a user is deleted.
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=60, db_index=True)
    target = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["action", "created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_email or 'system'} {self.action} {self.target}"

    @property
    def action_words(self) -> str:
        from accounts.audit_words import action_words

        return action_words(self.action)
