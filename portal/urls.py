from django.contrib import admin
from allauth.account import views as allauth_views
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import api, health, onboarding, views, webhook_views
from portal.forms import LoginForm
from scheduling import api as scheduling_api  # noqa: F401  (registers its endpoints on api.router)
from upgrades import api as upgrades_api  # noqa: F401  (registers its endpoints on api.router)
from upgrades import api_runs  # noqa: F401  (registers its endpoints on api.router)

login_view = views.LoginView.as_view(authentication_form=LoginForm, redirect_authenticated_user=True)
logout_view = auth_views.LogoutView.as_view()

auth_patterns = [
    path("login/", login_view, name="login"),
    path("logout/", logout_view, name="logout"),
    path("login/sign-on/", views.sign_on_start, name="sign-on"),
    # allauth's pages name the log-in and log-out by its own names: the same views.
    path("login/", login_view, name="account_login"),
    path("logout/", logout_view, name="account_logout"),
    path("reauthenticate/", allauth_views.reauthenticate, name="account_reauthenticate"),
    path("2fa/", include("allauth.mfa.urls")),
    # The identity providers' ends of single sign-on (portal.sign_on): OpenID Connect's callback,
    # SAML's assertion consumer service and metadata.
    path("", include("allauth.socialaccount.providers.openid_connect.urls")),
    path("", include("allauth.socialaccount.providers.saml.urls")),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("invitation/<str:token>/", views.invitation_accept, name="invitation-accept"),
]

urlpatterns = [
    # First: a URL is resolved by trying the patterns in order, and API clients call most often.
    path("api/v1/", include((api.router.urls, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", views.home, name="home"),
    # Browsers ask for it on pages that name no icon (Django admin's, the API's).
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("portal/favicon.svg"), permanent=True), name="favicon"),
    path("accounts/", include(auth_patterns)),
    path("organisations/", views.organisation_list, name="organisation-list"),
    # Setting up a customer (portal.onboarding): before the slug, which "new" is refused as.
    path("organisations/new/", onboarding.organisation_create, name="organisation-create"),
    path("organisations/<slug:slug>/", views.organisation_detail, name="organisation-detail"),
    path("organisations/<slug:slug>/deployments/new/", onboarding.deployment_create, name="deployment-create"),
    path("organisations/<slug:slug>/setup/contacts/", onboarding.setup_contacts, name="setup-contacts"),
    path("deployments/<int:pk>/servers/", onboarding.deployment_servers, name="deployment-servers"),
    path("servers/<int:pk>/edit/", onboarding.server_edit, name="server-edit"),
    path("servers/<int:pk>/remove/", onboarding.server_remove, name="server-remove"),
    path("organisations/<slug:slug>/contacts/new/", views.contact_create, name="contact-create"),
    path("my-organisation/", views.my_organisation, name="my-organisation"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact-edit"),
    path("contacts/<int:pk>/delete/", views.contact_delete, name="contact-delete"),
    path("contacts/<int:pk>/invite/", views.contact_invite, name="contact-invite"),
    path("deployments/<int:pk>/", views.deployment_detail, name="deployment-detail"),
    path("organisations/<slug:slug>/webhooks/", webhook_views.organisation_webhooks, name="organisation-webhooks"),
    path("webhooks/", webhook_views.vendor_webhooks, name="vendor-webhooks"),
    path("webhooks/<int:pk>/", webhook_views.webhook_detail, name="webhook-detail"),
    path("webhooks/<int:pk>/test/", webhook_views.webhook_test, name="webhook-test"),
    path("webhooks/<int:pk>/rotate/", webhook_views.webhook_rotate, name="webhook-rotate"),
    path("webhooks/<int:pk>/switch/", webhook_views.webhook_switch, name="webhook-switch"),
    path("account/security/", views.account_security, name="account-security"),
    path("account/notices/", views.account_notices, name="account-notices"),
    path("account/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("account/tokens/", views.token_create, name="token-create"),
    path("account/tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("account/sessions/<int:pk>/revoke/", views.session_revoke, name="session-revoke"),
    path("account/sessions/revoke-others/", views.sessions_revoke_others, name="sessions-revoke-others"),
    path("", include("upgrades.urls")),
    path("", include("scheduling.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("healthz/web", health.healthz_web, name="healthz-web"),
    path("admin/", admin.site.urls),
]
