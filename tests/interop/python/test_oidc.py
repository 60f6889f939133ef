"""authlib (a widely used OAuth/OIDC client library) against a running lanyard."""
import os
import re

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

ISSUER = os.environ["LANYARD_ISSUER"]
REDIRECT = "http://127.0.0.1:8088/callback"
PASSWORD = "Lanyard-demo-pass-2026"
META = requests.get(ISSUER + "/.well-known/openid-configuration", timeout=10).json()
JWKS = JsonWebKey.import_key_set(requests.get(META["jwks_uri"], timeout=10).json())


def field(html, name):
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def sign_in(browser, url, login):
    """Walks the HTML sign-in like a person; returns the redirect back to the app."""
    r = browser.get(url, allow_redirects=False)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    if not location.startswith("/login"):
        return location
    page = browser.get(ISSUER + location).text
    r = browser.post(ISSUER + "/login", data={"tx": field(page, "tx"), "csrf": field(page, "csrf"), "login": login, "password": PASSWORD}, allow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"]


def app_client():
    return OAuth2Session("demo-app", scope="openid profile email roles offline_access", redirect_uri=REDIRECT,
                         code_challenge_method="S256", token_endpoint_auth_method="none")


def code_flow(login, browser=None):
    browser = browser or requests.Session()
    client = app_client()
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = client.create_authorization_url(META["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    back = sign_in(browser, url, login)
    token = client.fetch_token(META["token_endpoint"], authorization_response=back, code_verifier=verifier)
    claims = jwt.decode(token["id_token"], JWKS, claims_options={
        "iss": {"essential": True, "value": ISSUER}, "aud": {"essential": True, "value": "demo-app"}, "nonce": {"value": nonce}})
    claims.validate()
    return client, token, claims


def test_code_flow_with_pkce_and_verified_id_token():
    client, token, claims = code_flow("trainer@demo.test")
    assert claims["roles"] == ["Student", "Trainer"]
    assert claims["main_role"] == "Trainer"
    assert claims["main_account"] == "Demo Training Co"
    info = client.get(META["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"] and info["roles"] == claims["roles"]
    access = jwt.decode(token["access_token"], JWKS)
    access.validate()
    assert access.header["typ"] == "at+jwt"


def test_refresh_rotation_and_reuse_detection():
    client, token, _ = code_flow("learner@demo.test")
    fresh = client.refresh_token(META["token_endpoint"], refresh_token=token["refresh_token"])
    assert fresh["refresh_token"] != token["refresh_token"]
    fresher = client.refresh_token(META["token_endpoint"], refresh_token=fresh["refresh_token"])
    # The first token's successor has been used, so replaying it is reuse: the family ends.
    with pytest.raises(Exception) as e:
        client.refresh_token(META["token_endpoint"], refresh_token=token["refresh_token"])
    assert "invalid_grant" in str(e.value)
    with pytest.raises(Exception) as e:
        client.refresh_token(META["token_endpoint"], refresh_token=fresher["refresh_token"])
    assert "invalid_grant" in str(e.value)


def test_introspection_and_revocation():
    client, token, _ = code_flow("learner@demo.test")
    service = OAuth2Session("demo-service", "demo-service-secret")
    seen = service.introspect_token(META["introspection_endpoint"], token=token["access_token"]).json()
    assert seen["active"] is True and seen["roles"] == ["Student"]
    client.revoke_token(META["revocation_endpoint"], token=token["refresh_token"])
    assert service.introspect_token(META["introspection_endpoint"], token=token["refresh_token"]).json() == {"active": False}


def test_logout_returns_to_registered_uri():
    browser = requests.Session()
    _, token, _ = code_flow("learner@demo.test", browser)
    r = browser.get(META["end_session_endpoint"], params={"id_token_hint": token["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:8088/", "state": "bye"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "http://127.0.0.1:8088/?state=bye"


def test_client_credentials():
    service = OAuth2Session("demo-service", "demo-service-secret")
    token = service.fetch_token(META["token_endpoint"], grant_type="client_credentials")
    claims = jwt.decode(token["access_token"], JWKS)
    claims.validate()
    assert claims["sub"] == "demo-service"


def test_wrong_secret_is_refused():
    service = OAuth2Session("demo-service", "not-the-secret")
    with pytest.raises(Exception) as e:
        service.fetch_token(META["token_endpoint"], grant_type="client_credentials")
    assert "invalid_client" in str(e.value)
