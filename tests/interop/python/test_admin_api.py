"""The admin API fuzzed from its own OpenAPI document by schemathesis: no request, however
malformed, gets a 5xx, and every answer matches the schema the document gives for it."""

import os
import subprocess
import sys

import requests

ISSUER = os.environ["LANYARD_ISSUER"]


def admin_token():
    r = requests.post(
        f"{ISSUER}/token",
        auth=("interop-admin", "interop-admin-secret-0123456789"),
        data={"grant_type": "client_credentials", "scope": "admin"},
        timeout=10,
    )
    r.raise_for_status()
    return r.json()["access_token"]


def test_the_document_is_openapi_3_1_and_describes_the_people_paths():
    doc = requests.get(f"{ISSUER}/admin/api/v1/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.1")
    for path in ["/admin/api/v1/users", "/admin/api/v1/users/{id}", "/admin/api/v1/users/{id}/roles"]:
        assert path in doc["paths"], path


def test_schemathesis_finds_no_server_error_and_no_schema_violation():
    exe = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    run = subprocess.run(
        [
            exe,
            "run",
            f"{ISSUER}/admin/api/v1/openapi.json",
            "--url",
            ISSUER,
            "-H",
            f"Authorization: Bearer {admin_token()}",
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance",
            "--max-examples",
            os.environ.get("LANYARD_SCHEMATHESIS_EXAMPLES", "30"),
            "--workers",
            "2",
            "--seed",
            "20261206",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    # It ran the API, not nothing.
    assert "/admin/api/v1/users" in out, out[-3000:]
