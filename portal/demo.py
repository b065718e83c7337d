"""The demo world: three customers with their fleets, and vendor staff. Used by `make run`
(through `manage.py demo`) and by the tests' fixtures. Loading it twice changes nothing."""

from dataclasses import dataclass

import pghistory
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import encrypt
from django.db import transaction

from portal import credentials
from portal.choices import ContactRole, Driver, Hosting, Role, ServerPlatform, ServerRole, SupportRegion, TlsVersion
from portal.models import Contact, Deployment, Organisation, Server, ServerGroup, User

PASSWORD = "demo-password"
# FOR THE DEMO ONLY: the demo staff's authenticator app secret (vendor staff must have a second
# factor). Anyone who reads the README has it; a real account's secret is made when its owner
# sets up their app, and is never written down anywhere but there.
DEMO_TOTP_SECRET = "DEMOPORTALDEMOPORTALDEMOPORTAL23"

VENDOR_STAFF = [
    ("support@vendor.example", "Sam Okafor", Role.SUPPORT, "Europe/London"),
    ("engineer@vendor.example", "Erin Walsh", Role.ENGINEER, "Europe/London"),
    ("engineer.apac@vendor.example", "Hiro Tanaka", Role.ENGINEER, "Australia/Sydney"),
    ("admin@vendor.example", "Alex Morgan", Role.ADMIN, "Europe/London"),
]


@dataclass(frozen=True)
class DemoCustomer:
    name: str
    slug: str
    hosting: str
    time_zone: str
    region: str
    lead: str
    people: tuple[tuple[str, tuple[str, ...]], ...]  # name, roles
    load_balancer: tuple[str, str]
    min_tls: str
    groups: int
    driver: str
    first_port: int | None
    phone_prefix: str


CUSTOMERS = [
    DemoCustomer(
        "Northwind University", "northwind", Hosting.ON_PREMISES, "Europe/London", SupportRegion.EUROPE,
        lead="Olivia Bennett",
        people=(
            ("Olivia Bennett", (ContactRole.LEAD,)),
            ("Rahul Mehta", (ContactRole.APPLICATION_ADMIN,)),
            ("Grace Liu", (ContactRole.LOAD_BALANCER_ADMIN, ContactRole.NETWORK_ADMIN)),
            ("Tom Hughes", (ContactRole.SERVER_ADMIN,)),
            ("Priya Shah", (ContactRole.DATABASE_ADMIN,)),
            ("Daniel Reed", (ContactRole.DIRECTORY_ADMIN,)),
        ),
        load_balancer=("F5", "BIG-IP i4600"), min_tls=TlsVersion.TLS_1_2, groups=2, driver=Driver.LAB,
        first_port=9101, phone_prefix="+44 20 7946 0",
    ),
    DemoCustomer(
        "Contoso College", "contoso", Hosting.ON_PREMISES, "America/New_York", SupportRegion.AMERICAS,
        lead="Marcus Johnson",
        people=(
            ("Marcus Johnson", (ContactRole.LEAD, ContactRole.APPLICATION_ADMIN)),
            ("Elena Garcia", (ContactRole.LOAD_BALANCER_ADMIN,)),
            ("Kevin O'Brien", (ContactRole.SERVER_ADMIN, ContactRole.DIRECTORY_ADMIN)),
            ("Aisha Williams", (ContactRole.DATABASE_ADMIN,)),
            ("Ben Carter", (ContactRole.NETWORK_ADMIN,)),
        ),
        load_balancer=("A10", "AX2500"), min_tls=TlsVersion.TLS_1_0, groups=3, driver=Driver.SSH,
        first_port=None, phone_prefix="+1 212 555 0",
    ),
    DemoCustomer(
        "Fabrikam Health", "fabrikam", Hosting.CLOUD, "Australia/Sydney", SupportRegion.ASIA_PACIFIC,
        lead="Chloe Nguyen",
        people=(
            ("Chloe Nguyen", (ContactRole.LEAD,)),
            ("Liam Murphy", (ContactRole.APPLICATION_ADMIN, ContactRole.LOAD_BALANCER_ADMIN)),
            ("Sofia Rossi", (ContactRole.SERVER_ADMIN, ContactRole.NETWORK_ADMIN)),
            ("Noah Kim", (ContactRole.DATABASE_ADMIN, ContactRole.DIRECTORY_ADMIN)),
        ),
        load_balancer=("F5", "BIG-IP Virtual Edition"), min_tls=TlsVersion.TLS_1_2, groups=2, driver=Driver.LAB,
        first_port=9121, phone_prefix="+61 2 5550 0",
    ),
]


def _email(name: str, slug: str) -> str:
    return name.lower().replace("'", "").replace(" ", ".") + f"@{slug}.example"


def _user(email: str, *, full_name: str, role: str, time_zone: str, contact: Contact | None = None) -> User:
    user, created = User.objects.get_or_create(
        email=email,
        defaults={
            "full_name": full_name, "role": role, "time_zone": time_zone, "contact": contact,
            "is_superuser": role == Role.ADMIN,
        },
    )
    if created:
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    return user


def _demo_second_factor(user: User) -> None:
    """The demo staff's authenticator app, on DEMO_TOTP_SECRET (unless they set up their own)."""
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP,
                                     data={"secret": encrypt(DEMO_TOTP_SECRET)})


def _customer(spec: DemoCustomer) -> Organisation:
    organisation, _ = Organisation.objects.get_or_create(
        slug=spec.slug,
        defaults={"name": spec.name, "hosting": spec.hosting, "time_zone": spec.time_zone, "support_region": spec.region},
    )
    for number, (name, roles) in enumerate(spec.people, start=101):
        contact, _ = Contact.objects.get_or_create(
            organisation=organisation, email=_email(name, spec.slug),
            defaults={"name": name, "roles": list(roles), "time_zone": spec.time_zone, "phone": f"{spec.phone_prefix}{number}"},
        )
        if name == spec.lead:
            _user(f"lead@{spec.slug}.example", full_name=name, role=Role.CUSTOMER,
                  time_zone=spec.time_zone, contact=contact)

    vendor, model = spec.load_balancer
    deployment, _ = Deployment.objects.get_or_create(
        organisation=organisation, name="Production",
        defaults={
            "cloudpaging_version": "9.4.2", "openjdk_version": "17.0.10", "tomcat_version": "9.0.85",
            "load_balancer_vendor": vendor, "load_balancer_model": model, "health_checks": True,
            "min_tls_version": spec.min_tls, "server_platform": ServerPlatform.VIRTUAL,
            "service_url": f"http://127.0.0.1:{spec.first_port - 1}" if spec.first_port else
            f"https://apps.{spec.slug}.example",
        },
    )
    for position in range(1, spec.groups + 1):
        group, _ = ServerGroup.objects.get_or_create(deployment=deployment, position=position)
        for offset, (role, prefix) in enumerate(((ServerRole.ADMIN_LICENSE, "cpadmin"), (ServerRole.STREAM, "cpstream"))):
            hostname = f"{prefix}{position:02d}.{spec.slug}.example"
            on_lab = spec.driver == Driver.LAB
            Server.objects.get_or_create(
                deployment=deployment, hostname=hostname,
                defaults={
                    "group": group, "role": role, "driver": spec.driver,
                    "address": "127.0.0.1" if on_lab else f"10.20.{position}.{10 + offset}",
                    "port": spec.first_port + 2 * (position - 1) + offset if on_lab else 22,
                    "username": "" if on_lab else "svc-upgrade",
                    "secret_token": "" if on_lab else credentials.seal(f"demo-ssh-secret-{spec.slug}-{position}"),
                },
            )
    return organisation


def seed() -> None:
    with transaction.atomic(), pghistory.context(source="seed_demo"):
        for email, name, role, time_zone in VENDOR_STAFF:
            _demo_second_factor(_user(email, full_name=name, role=role, time_zone=time_zone))
        for spec in CUSTOMERS:
            _customer(spec)


def loaded() -> bool:
    """Whether the demo was loaded (`manage.py demo` loads it whole or not at all)."""
    return User.objects.filter(email=VENDOR_STAFF[0][0]).exists()


def logins() -> list[tuple[str, str]]:
    """Who can log in to the demo, for the README and `make run`'s banner."""
    staff = [(email, f"{name}, {Role(role).label.lower()}") for email, name, role, _ in VENDOR_STAFF]
    customers = [(f"lead@{spec.slug}.example", f"{spec.lead}, lead contact at {spec.name}") for spec in CUSTOMERS]
    return staff + customers
