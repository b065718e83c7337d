"""What the API reads and writes. Serializers check the shape of the input; the services check
the rules (who may write, the database constraints) and write.

Multi-column constraints are left to the services' `full_clean` (`validators = []`), so a
broken rule reads the same in the API as on the pages, in the model's own words.
"""

from django.conf import settings
from django.core.validators import slug_re
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.choices import TokenScope, TokenState
from portal.models import ApiToken, Contact, Deployment, Organisation, Server, ServerGroup
from portal.selectors import visible_to


class _Visible:
    """A related field that finds only rows the caller may see: someone else's row reads as an
    unknown one."""

    def get_queryset(self):
        return visible_to(super().get_queryset(), self.context["request"].user)


class VisibleSlugField(_Visible, serializers.SlugRelatedField):
    def to_internal_value(self, data):
        # What cannot be a slug names no row; PostgreSQL would refuse some of it (NUL bytes).
        if not isinstance(data, str) or not slug_re.fullmatch(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)


class VisiblePrimaryKeyField(_Visible, serializers.PrimaryKeyRelatedField):
    pass


class OrganisationSerializer(serializers.ModelSerializer):
    deployment_count = serializers.IntegerField(read_only=True)
    contact_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Organisation
        fields = [
            "slug", "name", "hosting", "time_zone", "support_region", "requires_mfa", "created_at",
            "deployment_count", "contact_count",
        ]


class OrganisationUpdateSerializer(OrganisationSerializer):
    """The slug is the organisation's address: set once."""

    class Meta(OrganisationSerializer.Meta):
        read_only_fields = ["slug"]


class ContactSerializer(serializers.ModelSerializer):
    organisation = VisibleSlugField(slug_field="slug", queryset=Organisation.objects.all())

    class Meta:
        model = Contact
        fields = ["id", "organisation", "name", "email", "phone", "time_zone", "roles"]
        validators = []


class ContactUpdateSerializer(ContactSerializer):
    """A contact never moves to another customer."""

    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)


class ServerSerializer(serializers.ModelSerializer):
    deployment = VisiblePrimaryKeyField(queryset=Deployment.objects.all())
    group = VisiblePrimaryKeyField(
        queryset=ServerGroup.objects.all(), allow_null=True, required=False,
        help_text="A group of the same deployment, or null.",
    )
    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, max_length=4096,
        style={"input_type": "password"},
        help_text="Password or private key the driver logs in with. Never read back: an empty value "
        "removes it, leaving it out keeps the stored one.",
    )
    has_secret = serializers.BooleanField(read_only=True)

    class Meta:
        model = Server
        fields = [
            "id", "deployment", "group", "role", "hostname", "address", "port", "driver", "username",
            "host_key", "has_secret", "secret",
        ]
        extra_kwargs = {"port": {"min_value": 1, "max_value": 65535}}
        validators = []


class ServerUpdateSerializer(ServerSerializer):
    """A server stays in its deployment."""

    deployment = serializers.PrimaryKeyRelatedField(read_only=True)


class ServerGroupSerializer(serializers.ModelSerializer):
    deployment = VisiblePrimaryKeyField(queryset=Deployment.objects.all())
    servers = ServerSerializer(many=True, read_only=True)

    class Meta:
        model = ServerGroup
        fields = ["id", "deployment", "position", "servers"]
        read_only_fields = ["position"]
        validators = []


class DeploymentSerializer(serializers.ModelSerializer):
    organisation = VisibleSlugField(slug_field="slug", queryset=Organisation.objects.all())
    server_count = serializers.IntegerField(read_only=True)
    group_count = serializers.IntegerField(read_only=True)
    topology_warning = serializers.SerializerMethodField(
        help_text="Why an upgrade cannot avoid interrupting the service (S4, S5), or empty."
    )
    flags_legacy_tls = serializers.BooleanField(
        read_only=True, help_text="An A10 load balancer that still allows TLS below 1.2 (S9)."
    )

    class Meta:
        model = Deployment
        fields = [
            "id", "organisation", "name", "cloudpaging_version", "openjdk_version", "tomcat_version",
            "load_balancer_vendor", "load_balancer_model", "health_checks", "min_tls_version",
            "server_platform", "service_url", "created_at", "server_count", "group_count",
            "topology_warning", "flags_legacy_tls",
        ]
        validators = []

    def get_topology_warning(self, deployment: Deployment) -> str:
        return deployment.topology_warning(group_count=deployment.group_count)


class DeploymentUpdateSerializer(DeploymentSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)


class DeploymentDetailSerializer(DeploymentSerializer):
    """A deployment with its groups in upgrade order, and the servers in no group yet."""

    groups = ServerGroupSerializer(many=True, read_only=True)
    ungrouped_servers = serializers.SerializerMethodField()

    class Meta(DeploymentSerializer.Meta):
        fields = [*DeploymentSerializer.Meta.fields, "groups", "ungrouped_servers"]

    @extend_schema_field(ServerSerializer(many=True))
    def get_ungrouped_servers(self, deployment: Deployment) -> list[dict]:
        ungrouped = [server for server in deployment.servers.all() if server.group_id is None]
        return ServerSerializer(ungrouped, many=True, context=self.context).data


class OrganisationFilterSerializer(serializers.Serializer):
    organisation = serializers.SlugField(required=False, help_text="Only this organisation's rows (its slug).")


class DeploymentFilterSerializer(serializers.Serializer):
    deployment = serializers.IntegerField(required=False, min_value=1, help_text="Only this deployment's rows (its id).")


class TokenRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                 help_text="To know it again in the list; by default, \"API log-in\" and the date.")
    scope = serializers.ChoiceField(choices=TokenScope.choices, default=TokenScope.WRITE,
                                    help_text="`read`: GET, HEAD and OPTIONS only; `write`: everything you may do.")
    days = serializers.IntegerField(required=False, min_value=1,
                                    help_text="How many days it lasts (API_TOKEN_DAYS by default, API_TOKEN_MAX_DAYS at most).")

    def validate_days(self, days: int) -> int:
        if days > settings.API_TOKEN_MAX_DAYS:
            raise serializers.ValidationError(f"A token lasts {settings.API_TOKEN_MAX_DAYS} days at most.")
        return days


class LogInSerializer(TokenRequestSerializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})
    code = serializers.CharField(required=False, allow_blank=True, max_length=12, write_only=True,
                                 help_text="The current code of your authenticator app, when your account has one.")


class ApiTokenSerializer(serializers.ModelSerializer):
    """A token as its list shows it: never its key, which nobody can read again."""

    state = serializers.ChoiceField(choices=TokenState.choices, read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "scope", "state", "created_at", "expires_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class NewTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The key, shown this once: send it as "
                                  "`Authorization: Token <token>` (or `Bearer <token>`).")

    class Meta(ApiTokenSerializer.Meta):
        fields = ["token", *ApiTokenSerializer.Meta.fields]
        read_only_fields = fields


def new_token_data(token: ApiToken, key: str) -> dict:
    return {**ApiTokenSerializer(token).data, "token": key}
