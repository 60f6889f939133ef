"""TOTP second factor, checked with pyotp — an implementation independent of Lanyard's."""
import os
import re
import time

import pyotp
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

ISSUER = os.environ["LANYARD_ISSUER"]
META = requests.get(ISSUER + "/.well-known/openid-configuration", timeout=10).json()
TOTP = pyotp.TOTP("JBSWY3DPEHPK3PXP")  # the demo's mfa@demo.test


def field(html, name):
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def to_second_factor():
    """Signs mfa@demo.test in with the password; returns (browser, second-factor page URL)."""
    browser = requests.Session()
    client = OAuth2Session("demo-app", scope="openid", redirect_uri="http://127.0.0.1:8088/callback",
                           code_challenge_method="S256", token_endpoint_auth_method="none")
    url, _ = client.create_authorization_url(META["authorization_endpoint"], code_verifier=generate_token(48))
    r = browser.get(url, allow_redirects=False)
    page = browser.get(ISSUER + r.headers["location"]).text
    r = browser.post(ISSUER + "/login", data={"tx": field(page, "tx"), "csrf": field(page, "csrf"),
                                              "login": "mfa@demo.test", "password": "Lanyard-demo-pass-2026"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login/mfa"), r.text
    return browser, ISSUER + r.headers["location"]


def submit(browser, page_url, code):
    page = browser.get(page_url).text
    return browser.post(ISSUER + "/login/mfa", data={"tx": field(page, "tx"), "csrf": field(page, "csrf"), "code": code},
                        allow_redirects=False)


def test_right_code_accepted_then_refused_on_reuse():
    # Each test spends a code of its own time step, so the tests do not collide.
    code = TOTP.at(time.time() + 30)
    browser, url = to_second_factor()
    r = submit(browser, url, code)
    assert r.status_code == 303 and "code=" in r.headers["location"]
    browser, url = to_second_factor()
    assert submit(browser, url, code).status_code == 401  # replay


def test_wrong_code_refused():
    browser, url = to_second_factor()
    good = {TOTP.at(time.time() + d) for d in (-30, 0, 30)}
    wrong = next(c for c in ("123456", "654321", "000001") if c not in good)
    assert submit(browser, url, wrong).status_code == 401


def test_codes_outside_the_window_refused():
    for offset in (-120, -90, 90, 120):
        browser, url = to_second_factor()
        assert submit(browser, url, TOTP.at(time.time() + offset)).status_code == 401, offset
