from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """When a background component (worker, beat) last showed it was alive."""

    name = models.CharField(max_length=40, unique=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.last_seen:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls, name: str) -> None:
        cls.objects.update_or_create(name=name, defaults={"last_seen": timezone.now()})

    @classmethod
    def age(cls, name: str) -> timedelta | None:
        last_seen = cls.objects.filter(name=name).values_list("last_seen", flat=True).first()
        return None if last_seen is None else timezone.now() - last_seen
