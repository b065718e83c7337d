"""What a server's host name and address may be: the names the drivers connect to and that the
pages and mails print. A host name is DNS labels of letters, digits and hyphens (RFC 1123), an
address is that or an IPv4 or IPv6 address; nothing else (spaces, URLs, shell characters)."""

import ipaddress
import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
# The last label has a letter: "10.0.3" is a mistyped address, not a name.
HOST_NAME = re.compile(rf"({LABEL}\.)*(?=[A-Za-z0-9-]*[A-Za-z]){LABEL}\.?")
# An IPv6 address may name its interface (fe80::1%eth0): letters and digits only.
SCOPE = re.compile(r"[A-Za-z0-9]+")


def is_host_name(value: str) -> bool:
    return len(value) <= 253 and HOST_NAME.fullmatch(value) is not None


def is_ip_address(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    scope = getattr(address, "scope_id", None)
    return scope is None or SCOPE.fullmatch(scope) is not None


def validate_host_name(value: str) -> None:
    if not is_host_name(value):
        raise ValidationError(
            "“%(value)s” is not a host name: letters, digits and hyphens, in parts separated by dots "
            "(for example cpstream01.campus.example).", params={"value": value}, code="host_name",
        )


def validate_address(value: str) -> None:
    if not (is_ip_address(value) or is_host_name(value)):
        raise ValidationError(
            "“%(value)s” is neither an IP address nor a host name (for example 10.0.4.21 or "
            "cpstream01.campus.example).", params={"value": value}, code="address",
        )


def validate_mail_domain(value: str) -> None:
    """Beside Django's e-mail check: mail goes to a domain on the internet, not to localhost or to
    an address in brackets, which Django's check lets through."""
    try:
        validate_email(value)
    except ValidationError:
        return  # not an address at all: Django's own check says so
    domain = value.rpartition("@")[2].rstrip(".")
    if not (is_host_name(domain) and "." in domain):
        raise ValidationError("Give an address at a domain, like jane@northwind.example.", code="mail_domain")


def validate_domain(value: str) -> None:
    """A domain on the internet, as after the @ of an e-mail address."""
    if not (is_host_name(value) and "." in value):
        raise ValidationError("“%(value)s” is not a domain like northwind.example.", params={"value": value},
                              code="domain")
