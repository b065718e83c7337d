"""A SAML 2.0 identity provider standing for a university's Shibboleth IdP, for the demo and the
tests. Service providers sign people in through it SP-initiated: the AuthnRequest comes by the
HTTP-Redirect binding to `/sso`, the person signs in on the provider's own page, and a Response
with a signed assertion goes back to the Assertion Consumer Service by the HTTP-POST binding.

`SamlLab` serves one or several providers on one port, on loopback (127.0.0.1) only.
"""

import base64
import binascii
import secrets
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from html import escape

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from lxml.builder import ElementMaker
from onelogin.saml2.constants import OneLogin_Saml2_Constants as SAML2
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from portal.identity_lab import Person, page

LIFETIME = timedelta(minutes=5)  # how long an assertion may be presented

saml = ElementMaker(namespace=SAML2.NS_SAML, nsmap={"saml": SAML2.NS_SAML})
samlp = ElementMaker(namespace=SAML2.NS_SAMLP, nsmap={"samlp": SAML2.NS_SAMLP, "saml": SAML2.NS_SAML})
md = ElementMaker(namespace=SAML2.NS_MD, nsmap={"md": SAML2.NS_MD, "ds": SAML2.NS_DS})
ds = ElementMaker(namespace=SAML2.NS_DS, nsmap={"ds": SAML2.NS_DS})


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id() -> str:
    return "_" + secrets.token_hex(16)  # an xs:ID must not start with a digit


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


class SamlIdentityProvider:
    """An IdP that knows `people` and the service providers in `service_providers` (SP entity id
    -> Assertion Consumer Service URL). `base_url` is set by whoever serves `application()`."""

    base_url: str

    def __init__(self, *, title: str, people: Iterable[Person]):
        self.title = title
        self.people = {person.email.casefold(): person for person in people}
        self.service_providers: dict[str, str] = {}
        self.signed_in: list[tuple[str, str]] = []  # (e-mail, SP entity id) of each sign-in
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, title[:64])])  # a CN has at most 64 characters
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
                .sign(key, hashes.SHA256()))
        self._key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
        self._cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        self._cert_body = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()

    @property
    def entity_id(self) -> str:
        return f"{self.base_url}/metadata"

    @property
    def sso_url(self) -> str:
        return f"{self.base_url}/sso"

    @property
    def certificate(self) -> str:
        """The signing certificate's PEM body on one line, without header and footer, as allauth's
        `idp.x509cert` setting takes it."""
        return self._cert_body

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metadata", self.metadata)
        app.router.add_get("/sso", self.sign_in_page)
        app.router.add_post("/sso", self.sign_in)
        return app

    async def metadata(self, request: web.Request) -> web.Response:
        """The IdP's metadata: its entity id, signing certificate and single sign-on address."""
        descriptor = md.EntityDescriptor(
            md.IDPSSODescriptor(
                md.KeyDescriptor(ds.KeyInfo(ds.X509Data(ds.X509Certificate(self.certificate))), use="signing"),
                md.NameIDFormat(SAML2.NAMEID_PERSISTENT),
                md.NameIDFormat(SAML2.NAMEID_EMAIL_ADDRESS),
                md.SingleSignOnService(Binding=SAML2.BINDING_HTTP_REDIRECT, Location=self.sso_url),
                protocolSupportEnumeration=SAML2.NS_SAMLP,
            ),
            entityID=self.entity_id,
        )
        return web.Response(body=etree.tostring(descriptor, xml_declaration=True, encoding="UTF-8"),
                            content_type="application/samlmetadata+xml")

    async def sign_in_page(self, request: web.Request) -> web.Response:
        """Where the service provider's redirect brings the browser (HTTP-Redirect binding)."""
        self._authn_request(request.query.get("SAMLRequest", ""))
        return self._form(request, request.query)

    async def sign_in(self, request: web.Request) -> web.Response:
        """Checks the sign-in form; on success posts the Response to the ACS (HTTP-POST binding)."""
        form = await request.post()
        request_id, sp, acs = self._authn_request(form.get("SAMLRequest", ""))
        person = self.people.get(form.get("email", "").strip().casefold())
        password = form.get("password", "").encode()
        if person is None or not secrets.compare_digest(person.password.encode(), password):
            return self._form(request, form, error="Wrong e-mail or password.")
        self.signed_in.append((person.email, sp))
        saml_response = base64.b64encode(self._response(person, request_id, sp, acs)).decode()
        fields = _hidden("SAMLResponse", saml_response)
        if form.get("RelayState"):
            fields += _hidden("RelayState", form["RelayState"])
        return self._page(
            f'<form method="post" action="{escape(acs)}">{fields}'
            "<p>Signing you in to the service…</p><p><button type=\"submit\">Continue</button></p></form>"
            "<script>document.forms[0].submit()</script>"
        )

    def _authn_request(self, encoded: str) -> tuple[str, str, str]:
        """The request's ID, its service provider's entity id and ACS URL, or a 400 page."""
        try:
            root = OneLogin_Saml2_XML.to_etree(OneLogin_Saml2_Utils.decode_base64_and_inflate(encoded))
        except (binascii.Error, zlib.error, ValueError, etree.XMLSyntaxError):
            root = None
        if root is None or root.tag != f"{{{SAML2.NS_SAMLP}}}AuthnRequest" or not root.get("ID"):
            raise self._refusal("This is not a SAML authentication request.")
        sp = (root.findtext("saml:Issuer", namespaces=SAML2.NSMAP) or "").strip()
        if sp not in self.service_providers:
            raise self._refusal("The service you come from is not known to this identity provider.")
        acs = root.get("AssertionConsumerServiceURL") or self.service_providers[sp]
        if acs != self.service_providers[sp]:
            raise self._refusal("The service asked for an answer at an address it did not register.")
        return root.get("ID"), sp, acs

    def _response(self, person: Person, request_id: str, sp: str, acs: str) -> bytes:
        """The Response to `request_id`, its assertion signed (RSA-SHA256, SHA-256 digest)."""
        now = datetime.now(UTC)
        until = _instant(now + LIFETIME)
        given, _, family = person.name.partition(" ")
        attributes = [
            ("urn:oasis:names:tc:SAML:attribute:subject-id", "subject-id", [person.subject]),
            ("urn:oid:0.9.2342.19200300.100.1.3", "mail", [person.email]),
            ("urn:oid:2.5.4.42", "givenName", [given]),
            ("urn:oid:2.5.4.4", "sn", [family]),
            ("urn:oid:2.16.840.1.113730.3.1.241", "displayName", [person.name]),
            ("urn:oid:1.3.6.1.4.1.5923.1.1.1.7", "eduPersonEntitlement", list(person.groups)),
        ]
        assertion = saml.Assertion(
            saml.Issuer(self.entity_id),
            saml.Subject(
                saml.NameID(person.subject, Format=SAML2.NAMEID_PERSISTENT,
                            NameQualifier=self.entity_id, SPNameQualifier=sp),
                saml.SubjectConfirmation(
                    saml.SubjectConfirmationData(InResponseTo=request_id, Recipient=acs, NotOnOrAfter=until),
                    Method=SAML2.CM_BEARER,
                ),
            ),
            saml.Conditions(saml.AudienceRestriction(saml.Audience(sp)),
                            NotBefore=_instant(now), NotOnOrAfter=until),
            saml.AuthnStatement(
                saml.AuthnContext(saml.AuthnContextClassRef(SAML2.AC_PASSWORD_PROTECTED)),
                AuthnInstant=_instant(now), SessionIndex=_new_id(),
            ),
            saml.AttributeStatement(*(
                saml.Attribute(*(saml.AttributeValue(value) for value in values),
                               Name=urn, FriendlyName=friendly, NameFormat=SAML2.ATTRNAME_FORMAT_URI)
                for urn, friendly, values in attributes if any(values)
            )),
            ID=_new_id(), Version="2.0", IssueInstant=_instant(now),
        )
        # Signed on its own, so that the Signature goes right after the assertion's Issuer.
        OneLogin_Saml2_Utils.add_sign(assertion, self._key_pem, self._cert_pem,
                                      sign_algorithm=SAML2.RSA_SHA256, digest_algorithm=SAML2.SHA256)
        response = samlp.Response(
            saml.Issuer(self.entity_id),
            samlp.Status(samlp.StatusCode(Value=SAML2.STATUS_SUCCESS)),
            assertion,
            ID=_new_id(), Version="2.0", IssueInstant=_instant(now), Destination=acs, InResponseTo=request_id,
        )
        return etree.tostring(response, xml_declaration=True, encoding="UTF-8")

    def _form(self, request: web.Request, data, *, error: str = "") -> web.Response:
        """The sign-in page, carrying the AuthnRequest and RelayState in hidden fields."""
        alert = f'<p role="alert">{escape(error)}</p>' if error else ""
        return self._page(
            f'<form method="post" action="{escape(request.path)}">{alert}'
            + _hidden("SAMLRequest", data.get("SAMLRequest", ""))
            + _hidden("RelayState", data.get("RelayState", ""))
            + '<p><label for="email">E-mail</label> <input id="email" name="email" type="email" '
            f'autocomplete="username" required value="{escape(data.get("email", ""))}"></p>'
            '<p><label for="password">Password</label> <input id="password" name="password" '
            'type="password" autocomplete="current-password" required></p>'
            '<p><button type="submit">Sign in</button></p></form>'
        )

    def _page(self, body: str) -> web.Response:
        return web.Response(text=page(self.title, body), content_type="text/html")

    def _refusal(self, why: str) -> web.HTTPBadRequest:
        return web.HTTPBadRequest(text=page(self.title, f"<p>{escape(why)}</p>"), content_type="text/html")

