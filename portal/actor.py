"""Who is acting, and through which door: what services need to check access and audit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    user: AbstractBaseUser | AnonymousUser | None
    source: str
    ip: str | None = None

    @property
    def name(self) -> str:
        if self.user is None or not self.user.is_authenticated:
            return SYSTEM
        return self.user.get_username()

    @classmethod
    def from_request(cls, request: HttpRequest, source: str) -> Actor:
        return cls(user=request.user, source=source, ip=request.META.get("REMOTE_ADDR") or None)

    @classmethod
    def system(cls) -> Actor:
        return cls(user=None, source="worker")
