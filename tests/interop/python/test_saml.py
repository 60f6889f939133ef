"""pysaml2 (with Debian's xmlsec1) as real SAML service providers against a running lanyard:
SP-initiated sign-in by both bindings, signed requests, persistent NameIDs, IdP-initiated
sign-in and single logout. pysaml2 checks every signature with the certificate from
Lanyard's metadata, and the audience, recipient, InResponseTo and validity window."""
import base64
import html
import os
import re
import subprocess
import tempfile
import urllib.parse
import uuid

import pytest
import requests
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT

ISSUER = os.environ["LANYARD_ISSUER"]
IDP = ISSUER + "/saml/metadata"
PASSWORD = "Lanyard-demo-pass-2026"
IDP_METADATA = requests.get(IDP, timeout=10).text
DEMO_SP = "http://127.0.0.1:8089/saml/metadata"
SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def sp_client(entity, acs, slo=None, key=None, cert=None, signed_requests=False, want_response_signed=False):
    services = {"assertion_consumer_service": [(acs, BINDING_HTTP_POST)]}
    if slo:
        services["single_logout_service"] = [(slo, BINDING_HTTP_REDIRECT)]
    conf = {
        "entityid": entity,
        "service": {"sp": {
            "endpoints": services,
            "authn_requests_signed": signed_requests,
            "want_assertions_signed": True,
            "want_response_signed": want_response_signed,
            "allow_unsolicited": True,
            "name_id_format_allow_create": True,
        }},
        "metadata": {"inline": [IDP_METADATA]},
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "accepted_time_diff": 60,
        "allow_unknown_attributes": True,
    }
    if key:
        conf["key_file"], conf["cert_file"] = key, cert
        conf["encryption_keypairs"] = [{"key_file": key, "cert_file": cert}]
    c = SPConfig()
    c.load(conf)
    return Saml2Client(config=c), c


def form_fields(page):
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
    fields = {m.group(1): html.unescape(m.group(2)) for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}
    return action, fields


def field(page, name):
    return re.search(rf'name="{name}" value="([^"]*)"', page).group(1)


def through_sign_in(browser, r, login):
    """Follows Lanyard from a first response to the page that posts back to the SP."""
    for _ in range(6):
        if r.status_code == 200:
            return r
        assert r.status_code in (302, 303), (r.status_code, r.text[:500])
        location = r.headers["location"]
        if location.startswith("/login?"):
            page = browser.get(ISSUER + location).text
            r = browser.post(ISSUER + "/login", data={"tx": field(page, "tx"), "csrf": field(page, "csrf"), "login": login, "password": PASSWORD}, allow_redirects=False)
        else:
            r = browser.get(location if location.startswith("http") else ISSUER + location, allow_redirects=False)
    raise AssertionError("too many redirects")


def redirect_location(info):
    return dict(info["headers"])["Location"]


def test_demo_sp_redirect_binding_email_nameid_and_role_attributes():
    client, _ = sp_client(DEMO_SP, "http://127.0.0.1:8089/saml/acs")
    reqid, info = client.prepare_for_authenticate(entityid=IDP, relay_state="/course/42", binding=BINDING_HTTP_REDIRECT)
    browser = requests.Session()
    page = through_sign_in(browser, browser.get(redirect_location(info), allow_redirects=False), "trainer@demo.test").text
    action, fields = form_fields(page)
    assert action == "http://127.0.0.1:8089/saml/acs"
    assert fields["RelayState"] == "/course/42"
    resp = client.parse_authn_request_response(fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={reqid: "/"})
    assert resp.in_response_to == reqid
    assert resp.name_id.format == NAMEID_FORMAT_EMAILADDRESS
    assert resp.name_id.text == "trainer@demo.test"
    assert sorted(resp.ava["roles"]) == ["Student", "Trainer"]
    assert resp.ava["main_role"] == ["Trainer"]
    assert resp.ava["email"] == ["trainer@demo.test"]
    assert set(resp.ava) == {"roles", "main_role", "email"}
    # Password only: the context says so.
    assert resp.authn_info()[0][0] == "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"

    # Inside the session a POST-binding request is answered at once, and a tampered response fails.
    reqid2, info2 = client.prepare_for_authenticate(entityid=IDP, binding=BINDING_HTTP_POST)
    saml_request = re.search(r'name="SAMLRequest" value="([^"]+)"', info2["data"]).group(1)
    post_fields = {"SAMLRequest": html.unescape(saml_request)}
    r = browser.post(ISSUER + "/saml/sso", data=post_fields, allow_redirects=False)
    assert r.status_code == 200, r.text[:300]
    _, fields2 = form_fields(r.text)
    resp2 = client.parse_authn_request_response(fields2["SAMLResponse"], BINDING_HTTP_POST, outstanding={reqid2: "/"})
    assert resp2.name_id.text == "trainer@demo.test"
    xml = base64.b64decode(fields2["SAMLResponse"]).decode()
    forged = base64.b64encode(xml.replace(">Trainer<", ">Administrator<").encode()).decode()
    with pytest.raises(Exception):
        client.parse_authn_request_response(forged, BINDING_HTTP_POST, outstanding={reqid2: "/"})


def make_signed_sp(tmp, slo=True):
    entity = f"http://127.0.0.1:9/pysaml2-{uuid.uuid4().hex[:8]}"
    key, cert = os.path.join(tmp, "sp.key"), os.path.join(tmp, "sp.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=pysaml2", "-days", "2",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    client, conf = sp_client(entity, entity + "/acs", slo=entity + "/slo" if slo else None, key=key, cert=cert,
                             signed_requests=True, want_response_signed=True)
    md = os.path.join(tmp, "sp.xml")
    with open(md, "w") as f:
        f.write(create_metadata_string(None, config=conf, sign=False).decode())
    out = subprocess.run([os.environ["LANYARD_BIN"], "saml", "import", "--tenant", "demo", "--metadata-file", md,
                          "--require-signed-requests", "--sign-response", "--idp-initiated", "--name-id-format", "persistent",
                          "--attribute", "roles=urn:oid:1.3.6.1.4.1.5923.1.1.1.7", "--attribute", "tenant"],
                         check=True, capture_output=True, text=True)
    assert "registered" in out.stdout, out
    return client, entity


def test_signed_requests_persistent_nameid_idp_initiated_and_single_logout():
    with tempfile.TemporaryDirectory() as tmp:
        client, entity = make_signed_sp(tmp)
        browser = requests.Session()
        # SHA-1 signatures are refused (RFC 9700's spirit; SAML profiles allow SHA-256).
        _, info = client.prepare_for_authenticate(entityid=IDP, binding=BINDING_HTTP_REDIRECT, sign=True,
                                                  sigalg="http://www.w3.org/2000/09/xmldsig#rsa-sha1")
        r = browser.get(redirect_location(info), allow_redirects=False)
        assert r.status_code == 400 and "not accepted" in r.text
        reqid, info = client.prepare_for_authenticate(entityid=IDP, binding=BINDING_HTTP_REDIRECT, sign=True,
                                                      sigalg=SHA256, nameid_format=NAMEID_FORMAT_PERSISTENT)
        url = redirect_location(info)
        assert "Signature=" in url
        page = through_sign_in(browser, browser.get(url, allow_redirects=False), "learner@demo.test").text
        _, fields = form_fields(page)
        resp = client.parse_authn_request_response(fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={reqid: "/"})
        assert resp.name_id.format == NAMEID_FORMAT_PERSISTENT
        persistent = resp.name_id.text
        assert persistent and "learner" not in persistent
        assert resp.ava["urn:oid:1.3.6.1.4.1.5923.1.1.1.7"] == ["Student"]
        assert resp.ava["tenant"] == ["demo"]

        # The same request again is a replay.
        assert browser.get(url, allow_redirects=False).status_code == 400
        # The request with its signature cut off is refused: this SP must sign.
        unsigned = re.sub(r"&(SigAlg|Signature)=[^&]*", "", url)
        r = browser.get(unsigned, allow_redirects=False)
        assert r.status_code == 400 and "SAMLResponse" not in r.text

        # IdP-initiated: the same stable persistent NameID, no InResponseTo.
        r = browser.get(ISSUER + "/saml/init", params={"sp": entity, "RelayState": "portal"}, allow_redirects=False)
        assert r.status_code == 200, r.text[:300]
        _, fields = form_fields(r.text)
        assert fields["RelayState"] == "portal"
        unsolicited = client.parse_authn_request_response(fields["SAMLResponse"], BINDING_HTTP_POST)
        assert unsolicited.name_id.text == persistent
        assert unsolicited.in_response_to is None

        # SP-initiated single logout, signed, by the Redirect binding.
        client.users.add_information_about_person(resp.session_info())
        responses = client.global_logout(resp.name_id, sign=True, sign_alg=SHA256)
        (binding, info), = [v for v in responses.values()]
        r = browser.get(redirect_location(info), allow_redirects=False)
        assert r.status_code in (302, 303), r.text[:300]
        back = r.headers["location"]
        assert back.startswith(entity + "/slo?")
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))
        assert "Signature" in q and q["SigAlg"].endswith("rsa-sha256")
        logout = client.parse_logout_request_response(q["SAMLResponse"], BINDING_HTTP_REDIRECT)
        assert logout.status_ok()
        # The session is over: a new request goes to the sign-in page.
        _, info = client.prepare_for_authenticate(entityid=IDP, binding=BINDING_HTTP_REDIRECT, sign=True, sigalg=SHA256)
        r = browser.get(redirect_location(info), allow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?")


def test_unknown_sp_and_unregistered_acs_get_an_error_page():
    stranger, _ = sp_client("http://127.0.0.1:9/stranger", "http://127.0.0.1:9/acs")
    _, info = stranger.prepare_for_authenticate(entityid=IDP, binding=BINDING_HTTP_REDIRECT)
    r = requests.get(redirect_location(info), allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "not registered" in r.text
    wrong_acs, _ = sp_client(DEMO_SP, "http://127.0.0.1:8089/elsewhere")
    _, info = wrong_acs.prepare_for_authenticate(entityid=IDP, binding=BINDING_HTTP_REDIRECT)
    r = requests.get(redirect_location(info), allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "SAMLResponse" not in r.text


def test_signing_out_at_lanyard_logs_out_the_saml_apps_of_the_session():
    with tempfile.TemporaryDirectory() as tmp:
        client, entity = make_signed_sp(tmp)
        browser = requests.Session()
        reqid, info = client.prepare_for_authenticate(entityid=IDP, binding=BINDING_HTTP_REDIRECT, sign=True, sigalg=SHA256)
        page = through_sign_in(browser, browser.get(redirect_location(info), allow_redirects=False), "trainer@demo.test").text
        _, fields = form_fields(page)
        resp = client.parse_authn_request_response(fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={reqid: "/"})
        client.users.add_information_about_person(resp.session_info())

        # The person signs out at Lanyard (RP-initiated logout page, confirmed).
        confirm = browser.get(ISSUER + "/logout")
        assert confirm.status_code == 200
        r = browser.post(ISSUER + "/logout", data={"csrf": field(confirm.text, "csrf"), "confirm": "yes"}, allow_redirects=False)
        assert r.status_code in (302, 303) and r.headers["location"].startswith("/saml/slo/next?"), r.text[:300]
        r = browser.get(ISSUER + r.headers["location"], allow_redirects=False)
        assert r.status_code in (302, 303), r.text[:300]
        to_sp = r.headers["location"]
        assert to_sp.startswith(entity + "/slo?")
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to_sp).query))
        # pysaml2 checks the query signature and the request, then answers it, signed.
        req = client.parse_logout_request(q["SAMLRequest"], BINDING_HTTP_REDIRECT, relay_state=q["RelayState"],
                                          sigalg=q["SigAlg"], signature=q["Signature"])
        assert req.message.name_id.text == resp.name_id.text
        answer = client.handle_logout_request(q["SAMLRequest"], resp.name_id, BINDING_HTTP_REDIRECT, sign=True,
                                              sign_alg=SHA256, relay_state=q["RelayState"])
        r = browser.get(redirect_location(answer), allow_redirects=False)
        assert r.status_code == 200 and "You are signed out" in r.text, r.text[:300]
        # A response replayed later belongs to no logout any more.
        assert browser.get(redirect_location(answer), allow_redirects=False).status_code == 400
