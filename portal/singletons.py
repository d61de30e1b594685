"""Models with exactly one row: the organisation's settings of an area, or what a background job remembers.

Every such model inherits ``Singleton`` and is read with ``Model.load()``; nothing else picks the row.
"""

from __future__ import annotations

from typing import Any, Self

from django.db import models


class Singleton(models.Model):
    """One row, primary key 1, created with the field defaults the first time it is read."""

    SINGLETON_PK = 1

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A form or the admin saving a fresh instance writes the one row instead of adding a second.
        self.pk = self.SINGLETON_PK
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> Self:
        return cls.objects.get_or_create(pk=cls.SINGLETON_PK)[0]

    @classmethod
    def store(cls, **fields: Any) -> None:
        """Write these fields of the row (created first if missing) and leave the others as they are.

        An UPDATE of named columns, not a read-modify-write: two processes that store different fields
        at the same time never undo each other's.
        """
        if not cls.objects.filter(pk=cls.SINGLETON_PK).update(**fields):
            cls.load()
            cls.objects.filter(pk=cls.SINGLETON_PK).update(**fields)
