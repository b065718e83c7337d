"""Customers, people and fleets: organisations, their contacts, users of each role, deployments,
their server groups and servers."""

import factory
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import encrypt
from django.utils.text import slugify
from factory.django import DjangoModelFactory

from portal.demo import DEMO_TOTP_SECRET
from portal.choices import Driver, Hosting, Role, ServerRole, SupportRegion
from portal.models import Contact, Deployment, Organisation, Server, ServerGroup, User

HOST_PREFIX = {ServerRole.ADMIN_LICENSE: "cpadmin", ServerRole.STREAM: "cpstream"}


class OrganisationFactory(DjangoModelFactory):
    """An on-premises customer in London, supported from Europe."""

    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Customer {n}")
    slug = factory.LazyAttribute(lambda organisation: slugify(organisation.name))
    hosting = Hosting.ON_PREMISES
    time_zone = "Europe/London"
    support_region = SupportRegion.EUROPE


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.LazyAttribute(lambda contact: f"{slugify(contact.name)}@{contact.organisation.slug}.example")
    time_zone = factory.SelfAttribute("organisation.time_zone")
    roles = factory.LazyFunction(list)


class UserFactory(DjangoModelFactory):
    """A user made as the portal makes them (`create_user`): without a usable password unless
    given one, since hashing one (argon2) is slow. Their zone is the model's default (UTC)."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@vendor.example")
    full_name = factory.Sequence(lambda n: f"Person {n}")
    password = None

    @classmethod
    def _create(cls, model_class, *args, **fields):
        return model_class.objects.create_user(*args, **fields)


class VendorUserFactory(UserFactory):
    """Vendor staff, who must have a second factor: an authenticator app on the demo's secret
    (`second_factor=False` makes one who has not set it up yet)."""

    class Meta:
        skip_postgeneration_save = True  # the hook writes another row, not the user's

    @factory.post_generation
    def second_factor(user, create, extracted, **kwargs):
        if create and extracted is not False:
            Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP,
                                         data={"secret": encrypt(DEMO_TOTP_SECRET)})


class SupportUserFactory(VendorUserFactory):
    role = Role.SUPPORT


class EngineerUserFactory(VendorUserFactory):
    """A vendor engineer's account (the scheduler's profile, `scheduling.Engineer`, is apart)."""

    role = Role.ENGINEER


class AdminUserFactory(VendorUserFactory):
    role = Role.ADMIN
    is_superuser = True


class CustomerUserFactory(UserFactory):
    """A customer user: one of their organisation's contacts, by its name and address."""

    contact = factory.SubFactory(ContactFactory)
    email = factory.SelfAttribute("contact.email")
    full_name = factory.SelfAttribute("contact.name")
    role = Role.CUSTOMER


class DeploymentFactory(DjangoModelFactory):
    """A deployment on 9.4.2 behind a load balancer with health checks (`unbalanced`: with neither),
    with no servers unless `server_groups=N` asks for N groups (`server_groups__servers__port=...`
    reaches their servers)."""

    class Meta:
        model = Deployment
        skip_postgeneration_save = True

    class Params:
        unbalanced = factory.Trait(load_balancer_vendor="", health_checks=False)

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Campus {n}")
    cloudpaging_version = "9.4.2"
    openjdk_version = "17.0.10"
    tomcat_version = "9.0.85"
    load_balancer_vendor = "F5"
    health_checks = True

    @factory.post_generation
    def server_groups(deployment, create, count, **fields):
        for position in range(1, (count or 0) + 1):
            ServerGroupFactory(deployment=deployment, position=position, **fields)


class ServerGroupFactory(DjangoModelFactory):
    """A group of one Admin/License server and one Stream server (S5)."""

    class Meta:
        model = ServerGroup
        skip_postgeneration_save = True

    deployment = factory.SubFactory(DeploymentFactory)
    position = factory.Sequence(lambda n: n + 1)

    @factory.post_generation
    def servers(group, create, extracted, **fields):
        if not create or extracted is False:
            return
        for role in (ServerRole.ADMIN_LICENSE, ServerRole.STREAM):
            ServerFactory(deployment=group.deployment, group=group, role=role, **fields)


def _hostname(server, number: int) -> str:
    """As the demo names them: cpadmin01.<deployment>.example for group 1's Admin/License server."""
    position = server.group.position if server.group else number + 1
    return f"{HOST_PREFIX[server.role]}{position:02d}.{slugify(server.deployment.name)}.example"


class ServerFactory(DjangoModelFactory):
    """A lab server on loopback (the lab driver), in no group unless given one."""

    class Meta:
        model = Server

    group = None
    deployment = factory.Maybe(
        "group", yes_declaration=factory.SelfAttribute("group.deployment"),
        no_declaration=factory.SubFactory(DeploymentFactory),
    )
    role = ServerRole.STREAM
    hostname = factory.LazyAttributeSequence(_hostname)
    address = "127.0.0.1"
    driver = Driver.LAB
