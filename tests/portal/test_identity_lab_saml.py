"""The SAML identity lab answers a service provider as a university's Shibboleth IdP would.
OneLogin's python3-saml, which allauth's `saml` provider uses, plays the service provider."""

import base64
from urllib.parse import urljoin, urlsplit

import httpx
import lxml.html
import pytest
from allauth.socialaccount.providers.saml.provider import SAMLProvider
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as SAML2
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from portal.identity_lab import IdentityLab, Person
from portal.identity_lab.saml import SamlIdentityProvider
from portal.service_thread import ServiceThread

SP_ENTITY_ID = "https://portal.example.test/accounts/saml/fabrikam/metadata/"
ACS_URL = "https://portal.example.test/accounts/saml/fabrikam/acs/"
# The request that brings the Response to the ACS, as OneLogin reads it.
AT_ACS = {"https": "on", "http_host": "portal.example.test", "script_name": "",
          "path_info": "/accounts/saml/fabrikam/acs/"}

ADA = Person(subject="ada-7f3c91", email="ada.lovelace@fabrikam.example", name="Ada King Lovelace",
             password="analytical engine", groups=("staff", "it-admins"))


@pytest.fixture
def lab():
    providers = {
        "fabrikam": SamlIdentityProvider(title="Fabrikam College sign-in", people=[ADA]),
        "contoso": SamlIdentityProvider(title="Contoso University sign-in", people=[ADA]),
    }
    for provider in providers.values():
        provider.service_providers[SP_ENTITY_ID] = ACS_URL
    service = ServiceThread(IdentityLab(providers), name="saml-lab")
    service.start()
    yield service.service
    service.stop()


@pytest.fixture
def idp(lab):
    return lab.providers["fabrikam"]


def sp_settings(idp, *, entity_id=SP_ENTITY_ID, acs=ACS_URL) -> OneLogin_Saml2_Settings:
    """A strict service provider that trusts `idp` and wants signed assertions, as allauth's is."""
    return OneLogin_Saml2_Settings({
        "strict": True,
        "sp": {"entityId": entity_id,
               "assertionConsumerService": {"url": acs, "binding": SAML2.BINDING_HTTP_POST}},
        "idp": {"entityId": idp.entity_id, "singleSignOnService": {"url": idp.sso_url},
                "x509cert": idp.certificate},
        "security": {"wantAssertionsSigned": True, "rejectDeprecatedAlgorithm": True},
    })


def sign_in(settings, *, email=ADA.email, password=ADA.password, relay_state="/"):
    """What a browser does: follows the service provider's redirect to the IdP and fills in its
    sign-in form. Gives the sign-in page, the page answered to the form and the request's ID."""
    auth = OneLogin_Saml2_Auth(AT_ACS, settings)
    url = auth.login(return_to=relay_state)
    with httpx.Client() as client:
        page = client.get(url)
        form = lxml.html.fromstring(page.text).forms[0]
        filled = {**form.fields, "email": email, "password": password}
        answer = client.post(urljoin(url, form.action), data=filled)
    return page, answer, auth.get_last_request_id()


def form_of(page: httpx.Response):
    form = lxml.html.fromstring(page.text).forms[0]
    return form.action, dict(form.fields)


def test_a_service_provider_signs_someone_in_and_learns_who_they_are(idp):
    settings = sp_settings(idp)
    relay_state = '/upgrades/?a=1&b="<x>"'
    page, answer, request_id = sign_in(settings, email="Ada.Lovelace@Fabrikam.example", relay_state=relay_state)

    assert page.status_code == 200
    document = lxml.html.fromstring(page.text)
    assert document.findtext(".//title") == "Fabrikam College sign-in"
    labels = {label.text_content(): document.get_element_by_id(label.get("for")).get("type")
              for label in document.iter("label")}
    assert labels == {"E-mail": "email", "Password": "password"}
    assert [button.text_content() for button in document.iter("button")] == ["Sign in"]

    action, fields = form_of(answer)
    assert action == ACS_URL
    assert fields["RelayState"] == relay_state
    assert "document.forms[0].submit()" in answer.text
    response = OneLogin_Saml2_Response(settings, fields["SAMLResponse"])
    assert response.is_valid(AT_ACS, request_id=request_id), response.get_error()
    assert response.get_in_response_to() == request_id  # allauth finds its stashed state by it
    assert response.get_nameid() == ADA.subject
    assert response.get_nameid_format() == SAML2.NAMEID_PERSISTENT
    attributes = response.get_attributes()
    assert attributes == {
        "urn:oasis:names:tc:SAML:attribute:subject-id": [ADA.subject],
        "urn:oid:0.9.2342.19200300.100.1.3": [ADA.email],
        "urn:oid:2.5.4.42": ["Ada"],
        "urn:oid:2.5.4.4": ["King Lovelace"],
        "urn:oid:2.16.840.1.113730.3.1.241": ["Ada King Lovelace"],
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.7": ["staff", "it-admins"],
    }
    mapping = SAMLProvider.default_attribute_mapping
    assert {key: next(attributes[name][0] for name in mapping[key] if name in attributes)
            for key in ("uid", "email", "first_name", "last_name")} == {
        "uid": ADA.subject, "email": ADA.email, "first_name": "Ada", "last_name": "King Lovelace"}
    assert idp.signed_in == [(ADA.email, SP_ENTITY_ID)]


@pytest.mark.parametrize("email, password", [
    (ADA.email, "analytical engines"),
    ("bob@fabrikam.example", ADA.password),
])
def test_a_wrong_e_mail_or_password_gets_the_page_again_and_the_service_nothing(idp, email, password):
    page, answer, _ = sign_in(sp_settings(idp), email=email, password=password)

    assert answer.status_code == 200
    assert "Wrong e-mail or password." in answer.text
    action, fields = form_of(answer)
    assert urljoin(idp.sso_url, action) == idp.sso_url
    assert fields["email"] == email
    assert not fields["password"]
    assert fields["SAMLRequest"] == form_of(page)[1]["SAMLRequest"]
    assert "SAMLResponse" not in answer.text
    assert idp.signed_in == []


@pytest.mark.parametrize("entity_id, acs", [
    ("https://elsewhere.example.test/metadata/", ACS_URL),
    (SP_ENTITY_ID, "https://elsewhere.example.test/acs/"),
])
def test_a_request_from_an_unknown_service_or_for_another_address_is_refused(idp, entity_id, acs):
    url = OneLogin_Saml2_Auth(AT_ACS, sp_settings(idp, entity_id=entity_id, acs=acs)).login(return_to="/")
    redirect = httpx.get(url)
    request = dict(httpx.URL(url).params)
    posted = httpx.post(idp.sso_url, data={**request, "email": ADA.email, "password": ADA.password})

    for refused in (redirect, posted):
        assert refused.status_code == 400
        assert 'name="password"' not in refused.text
        assert "SAMLResponse" not in refused.text
    assert idp.signed_in == []


@pytest.mark.parametrize("query", [
    {},
    {"SAMLRequest": "not a request"},
    {"SAMLRequest": OneLogin_Saml2_Utils.deflate_and_base64_encode("<html/>")},
])
def test_what_is_no_authentication_request_is_refused(idp, query):
    assert httpx.get(idp.sso_url, params=query).status_code == 400


def test_a_response_changed_on_the_way_is_rejected(idp):
    settings = sp_settings(idp)
    _, answer, request_id = sign_in(settings)
    xml = base64.b64decode(form_of(answer)[1]["SAMLResponse"])
    assert ADA.email.encode() in xml
    forged = base64.b64encode(xml.replace(ADA.email.encode(), b"mallory@fabrikam.example")).decode()

    response = OneLogin_Saml2_Response(settings, forged)
    assert not response.is_valid(AT_ACS, request_id=request_id)
    assert "Signature validation failed" in response.get_error()


def test_an_assertion_from_another_provider_of_the_lab_is_rejected(lab):
    fabrikam, contoso = lab.providers["fabrikam"], lab.providers["contoso"]
    assert fabrikam.certificate != contoso.certificate
    _, answer, request_id = sign_in(sp_settings(contoso))

    response = OneLogin_Saml2_Response(sp_settings(fabrikam), form_of(answer)[1]["SAMLResponse"])
    assert not response.is_valid(AT_ACS, request_id=request_id)
    assert "Invalid issuer" in response.get_error()


def test_its_metadata_tells_where_to_send_people_and_which_certificate_signs(lab, idp):
    assert idp.base_url == f"http://127.0.0.1:{lab.port}/fabrikam"
    metadata = httpx.get(idp.entity_id)

    assert metadata.status_code == 200
    valid = OneLogin_Saml2_XML.validate_xml(metadata.content, "saml-schema-metadata-2.0.xsd")
    assert not isinstance(valid, str), valid
    parsed = OneLogin_Saml2_IdPMetadataParser.parse(metadata.content)
    assert parsed["idp"] == {
        "entityId": idp.entity_id,
        "singleSignOnService": {"url": idp.sso_url, "binding": SAML2.BINDING_HTTP_REDIRECT},
        "x509cert": idp.certificate,
    }
    assert urlsplit(parsed["idp"]["singleSignOnService"]["url"]).hostname == "127.0.0.1"
