"""The identity lab's OpenID Connect provider, driven over loopback HTTP as a relying party (the
portal's allauth client) drives it: discovery, the sign-in page, the code, the token exchange
with PKCE and either client authentication, the ID token checked against the JWKS, userinfo."""

import base64
import hashlib
import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from portal.identity_lab import IdentityLab, Person
from portal.identity_lab.oidc import OidcClient, OidcProvider
from portal.service_thread import ServiceThread

CALLBACK = "http://127.0.0.1:8000/accounts/oidc/northwind/login/callback/"
ADA = Person(
    subject="nw-0001", email="Ada.Lovelace@northwind.example", name="Ada Lovelace",
    password="correct horse battery", groups=("it-staff", "upgrade-approvers"),
)
PORTAL = OidcClient(client_id="upgrade-portal", secret="portal-secret", redirect_uris=[CALLBACK])


@pytest.fixture(scope="module")
def provider():
    provider = OidcProvider(title="Northwind University sign-in", people=[ADA], clients=[PORTAL])
    thread = ServiceThread(IdentityLab({"northwind": provider}), name="oidc lab")
    thread.start()
    yield provider
    thread.stop()


@pytest.fixture
def http():
    with httpx.Client(timeout=10) as client:
        yield client


class Form(HTMLParser):
    """The sign-in page's form as a browser would submit it, and what it shows."""

    def __init__(self, page: str):
        super().__init__()
        self.action, self.fields, self.labels = "", {}, []
        self._in_label = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs["action"]
        elif tag == "input":
            self.fields[attrs["name"]] = attrs.get("value", "")
        self._in_label = tag == "label"

    def handle_endtag(self, tag):
        self._in_label = False

    def handle_data(self, data):
        if self._in_label:
            self.labels.append(data)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorization_request(**changes) -> dict:
    verifier = secrets.token_urlsafe(48)
    request = {
        "client_id": PORTAL.client_id, "redirect_uri": CALLBACK, "response_type": "code",
        "scope": "email openid profile", "state": secrets.token_urlsafe(12), "nonce": secrets.token_urlsafe(12),
        "code_challenge": s256(verifier), "code_challenge_method": "S256", "verifier": verifier,
    }
    return {**request, **changes}


def sign_in(http, provider, request, *, email=ADA.email, password=ADA.password) -> httpx.Response:
    """Open the sign-in page for `request` and submit it as a browser would."""
    params = {k: v for k, v in request.items() if k != "verifier" and v is not None}
    page = http.get(f"{provider.issuer}/authorize", params=params)
    assert page.status_code == 200
    form = Form(page.text)
    url = httpx.URL(provider.issuer).join(form.action)
    return http.post(url, data={**form.fields, "email": email, "password": password})


def code_of(answer: httpx.Response, request: dict) -> str:
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == [request["state"]]
    return query["code"][0]


def exchange(http, provider, code, request, *, auth="basic", secret=PORTAL.secret, **changes) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "code_verifier": request["verifier"], **changes}
    form = {name: value for name, value in form.items() if value is not None}
    if auth == "basic":
        return http.post(f"{provider.issuer}/token", data=form, auth=(PORTAL.client_id, secret))
    return http.post(f"{provider.issuer}/token", data={**form, "client_id": PORTAL.client_id, "client_secret": secret})


def verified(http, provider, id_token: str, nonce: str) -> dict:
    """The ID token's claims, checked as a careful relying party checks them."""
    discovery = http.get(f"{provider.issuer}/.well-known/openid-configuration").json()
    keys = jwt.PyJWKSet.from_dict(http.get(discovery["jwks_uri"]).json())
    key = keys[jwt.get_unverified_header(id_token)["kid"]]
    claims = jwt.decode(id_token, key, algorithms=["RS256"], audience=PORTAL.client_id, issuer=discovery["issuer"])
    assert claims["nonce"] == nonce
    return claims


def test_discovery_names_the_issuer_and_its_endpoints(provider, http):
    answer = http.get(f"{provider.issuer}/.well-known/openid-configuration")

    assert answer.status_code == 200
    config = answer.json()
    assert config["issuer"] == provider.issuer
    assert provider.issuer.startswith("http://127.0.0.1:") and provider.issuer.endswith("/northwind")
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert config[name].startswith(provider.issuer + "/")
    assert config["response_types_supported"] == ["code"]
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert set(config["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert {"email", "groups", "nonce"} <= set(config["claims_supported"])
    [key] = http.get(config["jwks_uri"]).json()["keys"]
    assert (key["kty"], key["use"], key["alg"]) == ("RSA", "sig", "RS256") and key["kid"]


def test_the_sign_in_page_asks_for_e_mail_and_password_and_carries_the_request(provider, http):
    request = authorization_request(state='a"<b>&c\'', nonce="<script>")
    params = {k: v for k, v in request.items() if k != "verifier"}

    page = http.get(f"{provider.issuer}/authorize", params=params)

    assert page.status_code == 200
    assert "<title>Northwind University sign-in</title>" in page.text
    assert "<script>" not in page.text
    form = Form(page.text)
    assert form.labels == ["E-mail", "Password"]
    assert "Sign in</button>" in page.text
    assert {name: form.fields[name] for name in params} == params


def test_a_wrong_password_is_refused_and_the_e_mail_kept(provider, http):
    request = authorization_request()

    answer = sign_in(http, provider, request, password="wrong horse")

    assert answer.status_code in (200, 400)
    assert "Location" not in answer.headers
    assert "Wrong e-mail or password." in answer.text
    assert Form(answer.text).fields["email"] == ADA.email
    unknown = sign_in(http, provider, request, email="nobody@northwind.example")
    assert "Wrong e-mail or password." in unknown.text and "Location" not in unknown.headers


def test_the_right_password_sends_a_code_and_the_state_back(provider, http):
    request = authorization_request()

    answer = sign_in(http, provider, request, email=ADA.email.upper())

    assert code_of(answer, request)
    assert provider.signed_in[-1] == (ADA.email, PORTAL.client_id)


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_the_code_and_pkce_verifier_buy_an_id_token_and_an_access_token(provider, http, auth):
    request = authorization_request()
    code = code_of(sign_in(http, provider, request), request)

    answer = exchange(http, provider, code, request, auth=auth)

    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 300 and tokens["access_token"]
    claims = verified(http, provider, tokens["id_token"], request["nonce"])
    assert claims["sub"] == ADA.subject and claims["email"] == ADA.email and claims["email_verified"] is True
    assert (claims["name"], claims["given_name"], claims["family_name"]) == ("Ada Lovelace", "Ada", "Lovelace")
    assert claims["groups"] == list(ADA.groups) and claims["amr"] == ["pwd"]
    assert claims["iat"] <= claims["exp"] and claims["auth_time"] <= claims["iat"]


def test_userinfo_answers_the_bearer_of_the_access_token_only(provider, http):
    request = authorization_request()
    code = code_of(sign_in(http, provider, request), request)
    access_token = exchange(http, provider, code, request).json()["access_token"]

    answer = http.get(f"{provider.issuer}/userinfo", headers={"Authorization": f"Bearer {access_token}"})

    assert answer.status_code == 200
    assert answer.json() == {
        "sub": ADA.subject, "email": ADA.email, "email_verified": True, "name": ADA.name,
        "given_name": "Ada", "family_name": "Lovelace", "groups": list(ADA.groups),
    }
    assert http.get(f"{provider.issuer}/userinfo").status_code == 401
    forged = http.get(f"{provider.issuer}/userinfo", headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 401 and "invalid_token" in forged.headers["WWW-Authenticate"]


def test_a_code_works_once(provider, http):
    request = authorization_request()
    code = code_of(sign_in(http, provider, request), request)
    assert exchange(http, provider, code, request).status_code == 200

    again = exchange(http, provider, code, request)

    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_wrong_pkce_verifier_or_none_is_an_invalid_grant(provider, http):
    for verifier in ("x" * 43, None):
        request = authorization_request()
        code = code_of(sign_in(http, provider, request), request)

        answer = exchange(http, provider, code, request, code_verifier=verifier)

        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_without_pkce_the_code_is_taken_alone_and_a_verifier_is_refused(provider, http):
    """allauth leaves PKCE off unless `oauth_pkce_enabled`; a verifier the request never announced
    is a downgrade attempt."""
    for verifier, status in ((None, 200), ("x" * 43, 400)):
        request = authorization_request(code_challenge=None, code_challenge_method=None)
        code = code_of(sign_in(http, provider, request), request)

        answer = exchange(http, provider, code, request, code_verifier=verifier)

        assert answer.status_code == status, answer.text


def test_the_code_is_for_the_redirect_uri_it_was_sent_to(provider, http):
    request = authorization_request()
    code = code_of(sign_in(http, provider, request), request)

    answer = exchange(http, provider, code, request, redirect_uri=CALLBACK + "elsewhere/")

    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_a_wrong_client_secret_is_an_invalid_client_and_spends_no_code(provider, http, auth):
    request = authorization_request()
    code = code_of(sign_in(http, provider, request), request)

    answer = exchange(http, provider, code, request, auth=auth, secret="guessed")

    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    assert exchange(http, provider, code, request, auth=auth).status_code == 200


@pytest.mark.parametrize("changes", [
    {"redirect_uri": "https://attacker.example/callback"},
    {"redirect_uri": CALLBACK + "?next=/"},
    {"client_id": "unknown-app"},
])
def test_a_wrong_client_or_redirect_uri_is_a_page_never_a_redirect(provider, http, changes):
    params = {k: v for k, v in authorization_request(**changes).items() if k != "verifier"}
    sign_ins = len(provider.signed_in)

    page = http.get(f"{provider.issuer}/authorize", params=params)
    posted = http.post(f"{provider.issuer}/authorize", data={**params, "email": ADA.email, "password": ADA.password})

    for answer in (page, posted):
        assert answer.status_code == 400
        assert "Location" not in answer.headers
        assert "Northwind University sign-in" in answer.text
    assert len(provider.signed_in) == sign_ins


@pytest.mark.parametrize("changes, error", [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": "profile email"}, "invalid_scope"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
])
def test_other_bad_requests_are_sent_back_with_an_error(provider, http, changes, error):
    request = authorization_request(**changes)
    params = {k: v for k, v in request.items() if k != "verifier"}

    answer = http.get(f"{provider.issuer}/authorize", params=params)

    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["error"] == [error] and query["state"] == [request["state"]]
    assert answer.headers["Location"].startswith(CALLBACK + "?")


def test_a_redirect_uri_added_later_is_taken(provider, http):
    live_callback = "http://127.0.0.1:39999/accounts/oidc/northwind/login/callback/"
    PORTAL.redirect_uris.append(live_callback)
    try:
        request = authorization_request(redirect_uri=live_callback)
        answer = sign_in(http, provider, request)
    finally:
        PORTAL.redirect_uris.remove(live_callback)

    assert answer.status_code == 302 and answer.headers["Location"].startswith(live_callback + "?code=")
