"""An OpenID Connect provider for the tests and the demo: an organisation's identity provider
(Entra ID, Okta) in miniature, with a sign-in page of its own and RS256-signed ID tokens.

It serves the authorization code flow (PKCE S256, client_secret_basic or client_secret_post) as
django-allauth's `openid_connect` provider uses it. `OidcLab` listens on 127.0.0.1 only.
"""

import base64
import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

import jwt
from aiohttp import BasicAuth, web
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from portal.identity_lab import Person, page

CODE_SECONDS = 60
TOKEN_SECONDS = 300
AUTHORIZE_PARAMS = (
    "client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method",
)
CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "email", "email_verified", "name",
          "given_name", "family_name", "groups")
FORM = """{error}
<form method="post" action="{action}">{hidden}
<p><label for="email">E-mail</label><br>
<input id="email" name="email" type="email" value="{email}" autocomplete="username" required{invalid}></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" autocomplete="current-password" required{invalid}></p>
<p><button type="submit">Sign in</button></p>
</form>"""


@dataclass
class OidcClient:
    """A relying party registered with the provider."""

    client_id: str
    secret: str
    redirect_uris: list[str]  # matched exactly


@dataclass
class _Grant:
    """What an authorization code stands for, until it is exchanged or expires."""

    person: Person
    params: dict[str, str]  # the authorization request's
    auth_time: int
    expires: float


class OidcProvider:
    """One organisation's provider. Whoever serves `application()` sets `base_url`, its issuer (no
    trailing slash)."""

    def __init__(self, *, title: str, people: Iterable[Person], clients: Iterable[OidcClient]):
        self.title = title
        self.people = {person.email.casefold(): person for person in people}
        self.clients = {client.client_id: client for client in clients}
        self.base_url = ""
        self.signed_in: list[tuple[str, str]] = []  # (email, client_id) of each sign-in
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_urlsafe(8)
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, tuple[Person, float]] = {}  # access token -> person, expiry

    @property
    def issuer(self) -> str:
        return self.base_url

    def application(self) -> web.Application:
        app = web.Application()
        app.add_routes([
            web.get("/.well-known/openid-configuration", self.discovery),
            web.get("/authorize", self.authorize),
            web.post("/authorize", self.sign_in),
            web.post("/token", self.token),
            web.get("/userinfo", self.userinfo),
            web.post("/userinfo", self.userinfo),
            web.get("/jwks", self.jwks),
        ])
        return app

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": list(CLAIMS),
        })

    async def jwks(self, request: web.Request) -> web.Response:
        key = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return web.json_response({"keys": [{**key, "use": "sig", "alg": "RS256", "kid": self.kid}]})

    async def authorize(self, request: web.Request) -> web.Response:
        return self._page(request, self._request(request.query))

    async def sign_in(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = self._request(form)
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        person = self.people.get(email.strip().casefold())
        if person is None or not _same(person.password, password):
            return self._page(request, params, email=email, wrong=True)
        code = secrets.token_urlsafe(32)
        now = time.time()
        self._codes[code] = _Grant(person, params, auth_time=int(now), expires=now + CODE_SECONDS)
        self.signed_in.append((person.email, params["client_id"]))
        raise _back(params, code=code)

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client = self._client(request.headers.get("Authorization", ""), form)
        if client is None:
            return _token_error("invalid_client", "Client authentication failed.", status=401)
        if form.get("grant_type") != "authorization_code":
            return _token_error("unsupported_grant_type", "Only authorization_code is supported.")
        grant = self._codes.pop(str(form.get("code", "")), None)  # once only, whatever comes of it
        if grant is None or grant.expires < time.time() or grant.params["client_id"] != client.client_id:
            return _token_error("invalid_grant", "The code is unknown, used, expired or not this client's.")
        if form.get("redirect_uri") != grant.params["redirect_uri"]:
            return _token_error("invalid_grant", "The redirect_uri is not the authorization request's.")
        verifier = form.get("code_verifier")
        # Refuses a missing verifier, a wrong one, and one for a request that gave no challenge.
        if (_s256(verifier) if isinstance(verifier, str) else None) != grant.params.get("code_challenge"):
            return _token_error("invalid_grant", "The code_verifier does not match the code_challenge.")
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": client.client_id, "iat": now, "exp": now + TOKEN_SECONDS,
            "auth_time": grant.auth_time, "amr": ["pwd"], **_claims(grant.person),
        }
        if grant.params.get("nonce"):
            claims["nonce"] = grant.params["nonce"]
        access_token = secrets.token_urlsafe(32)
        self._tokens[access_token] = (grant.person, now + TOKEN_SECONDS)
        return web.json_response({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "scope": grant.params["scope"],
            "id_token": jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid}),
        }, headers={"Cache-Control": "no-store"})

    async def userinfo(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        person, expires = self._tokens.get(token.strip(), (None, 0))
        if scheme.lower() != "bearer" or person is None or expires < time.time():
            challenge = 'Bearer error="invalid_token"' if header else "Bearer"
            return web.json_response({"error": "invalid_token"}, status=401, headers={"WWW-Authenticate": challenge})
        return web.json_response(_claims(person))

    def _request(self, source) -> dict[str, str]:
        """The authorization request's parameters (an empty one counts as omitted, RFC 6749 3.1).
        A bad request is refused: a wrong client or redirect_uri with a 400 page (never a redirect
        to an address not checked), anything else by redirecting back with `error`."""
        params = {name: value for name in AUTHORIZE_PARAMS if isinstance(value := source.get(name), str) and value}
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            raise self._refusal("This application is not known to the sign-in service (client_id).")
        if params.get("redirect_uri") not in client.redirect_uris:
            raise self._refusal("This application's return address is not registered (redirect_uri).")
        if params.get("response_type") != "code":
            raise _back(params, error="unsupported_response_type", error_description="Only response_type=code.")
        if "openid" not in params.get("scope", "").split():
            raise _back(params, error="invalid_scope", error_description="The scope must include openid.")
        if params.get("code_challenge") and params.get("code_challenge_method") != "S256":
            raise _back(params, error="invalid_request", error_description="Only code_challenge_method=S256.")
        return params

    def _client(self, authorization: str, form) -> OidcClient | None:
        """The client authenticated by HTTP Basic, or by client_id and client_secret in the body."""
        if authorization.lower().startswith("basic "):
            try:
                client_id, secret, _ = BasicAuth.decode(authorization)
            except ValueError:
                return None
        else:
            client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        client = self.clients.get(client_id)
        return client if client is not None and _same(client.secret, secret) else None

    def _page(self, request: web.Request, params: dict[str, str], *, email="", wrong=False) -> web.Response:
        """The sign-in page, the request's parameters carried in hidden fields."""
        form = FORM.format(
            error='<p id="error" role="alert">Wrong e-mail or password.</p>' if wrong else "",
            action=escape(request.path),
            hidden="".join(
                f'\n<input type="hidden" name="{name}" value="{escape(value)}">' for name, value in params.items()
            ),
            email=escape(email),
            invalid=' aria-invalid="true" aria-describedby="error"' if wrong else "",
        )
        return web.Response(
            text=page(self.title, form), content_type="text/html",
            status=400 if wrong else 200, headers={"Cache-Control": "no-store"},
        )

    def _refusal(self, message: str) -> web.HTTPBadRequest:
        return web.HTTPBadRequest(text=page(self.title, f"<p>{escape(message)}</p>"), content_type="text/html")


def _claims(person: Person) -> dict:
    given, _, family = person.name.partition(" ")
    return {
        "sub": person.subject, "email": person.email, "email_verified": True, "name": person.name,
        "given_name": given, "family_name": family, "groups": list(person.groups),
    }


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())


def _back(params: dict[str, str], **answer: str) -> web.HTTPFound:
    """A redirect to the (checked) redirect_uri with `answer` and the request's state."""
    if "state" in params:
        answer["state"] = params["state"]
    return web.HTTPFound(URL(params["redirect_uri"]).update_query(answer))


def _token_error(error: str, description: str, *, status: int = 400) -> web.Response:
    headers = {"Cache-Control": "no-store"} | ({"WWW-Authenticate": "Basic"} if status == 401 else {})
    return web.json_response({"error": error, "error_description": description}, status=status, headers=headers)
