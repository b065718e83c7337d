from __future__ import annotations

import pghistory
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from portal.choices import VENDOR_ROLES, Role
from portal.models.customers import Contact, audited
from portal.timezones import validate_time_zone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, email: str) -> User:
        # People type their address as they like; it is one account whatever the case.
        return self.get(email__iexact=email)

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("role", Role.ADMIN)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


@pghistory.track(
    *audited(),
    exclude=["password", "last_login"],
)
class User(AbstractBaseUser, PermissionsMixin):
    """Someone who logs in: vendor staff (support, engineer, admin), or a customer user who is
    one of their organisation's contacts."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200)
    role = models.CharField(max_length=20, choices=Role.choices)
    contact = models.OneToOneField(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="user",
        help_text="Customer users only: who they are in their organisation. A person removed from the contacts "
                  "keeps a disabled account, and its history.",
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(auto_now_add=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["email"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(role=Role.CUSTOMER) & (Q(contact__isnull=False) | Q(is_active=False)))
                | (~Q(role=Role.CUSTOMER) & Q(contact__isnull=True)),
                name="portal_user_customer_has_contact",
                violation_error_message="A customer user is one of the organisation's contacts (a person removed "
                                        "from them keeps a disabled account); vendor staff are not.",
            ),
            models.UniqueConstraint(
                Lower("email"), name="portal_user_unique_email_ci",
                violation_error_message="A user with this e-mail address already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def is_vendor(self) -> bool:
        return self.role in VENDOR_ROLES

    @property
    def is_customer(self) -> bool:
        return self.role == Role.CUSTOMER

    @property
    def is_staff(self) -> bool:
        # Django admin is for vendor staff; what each sees there follows their permissions.
        return self.is_active and self.is_vendor

    @property
    def organisation_id(self) -> int | None:
        return self.contact.organisation_id if self.contact_id else None
