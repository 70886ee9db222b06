"""OAuth2 as the reference describes it, and the errors RFC 6749 and RFC 6750 prescribe."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import jwt
import pytest

from simulator.world import SimulatorSizes
from tests.api_client import ApiClient

TINY = SimulatorSizes(organizations=1, stations=5, members=10, sessions=200, days=10)
SESSIONS = "/organizations/id/DEMOTENANT/sessions"


def client_form(api: ApiClient, **extra: str) -> dict[str, str]:
    creds = api.simulator.credentials
    return {"client_id": creds.client_id, "client_secret": creds.client_secret, **extra}


def password_form(api: ApiClient, **extra: str) -> dict[str, str]:
    creds = api.simulator.credentials
    return client_form(api, grant_type="password", username=creds.username, password=creds.password, **extra)


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    assert response.headers["cache-control"] == "no-store"


def test_client_credentials_grant_and_its_scopes(api: ApiClient) -> None:
    default = api.token_request(**client_form(api, grant_type="client_credentials"))
    assert default.status_code == 200
    assert default.json()["scope"] == "account"
    assert "refresh_token" not in default.json()
    for scope in ("account", "domains", "pois_search", "account domains pois_search"):
        response = api.token_request(**client_form(api, grant_type="client_credentials", scope=scope))
        assert response.status_code == 200
        assert response.json()["scope"] == scope
    assert_oauth_error(
        api.token_request(**client_form(api, grant_type="client_credentials", scope="admin")), 400, "invalid_scope"
    )


def test_password_grant_gives_a_jwt_and_a_refresh_token(api: ApiClient) -> None:
    response = api.token_request(**password_form(api))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "admin" and body["refresh_token"]
    claims: dict[str, Any] = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 3600
    assert claims["sub"] == api.simulator.credentials.username and claims["scope"] == "admin"
    assert api.get(SESSIONS, token=body["access_token"]).status_code == 200


def test_refresh_tokens_work_once(api: ApiClient) -> None:
    first = api.token_request(**password_form(api)).json()
    refreshed = api.token_request(**client_form(api, grant_type="refresh_token", refresh_token=first["refresh_token"]))
    assert refreshed.status_code == 200
    assert refreshed.json()["refresh_token"] != first["refresh_token"]
    assert api.get(SESSIONS, token=refreshed.json()["access_token"]).status_code == 200
    replay = api.token_request(**client_form(api, grant_type="refresh_token", refresh_token=first["refresh_token"]))
    assert_oauth_error(replay, 400, "invalid_grant")


def test_client_authentication_with_http_basic(api: ApiClient) -> None:
    creds = api.simulator.credentials
    basic = base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
    response = api.http.post(
        api.simulator.token_url,
        data={"grant_type": "password", "username": creds.username, "password": creds.password},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"password": "wrong"}, 400, "invalid_grant"),
        ({"username": "nobody@demo.test"}, 400, "invalid_grant"),
        ({"grant_type": "implicit"}, 400, "unsupported_grant_type"),
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"username": ""}, 400, "invalid_request"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
    ],
)
def test_token_errors_follow_rfc_6749(api: ApiClient, form: dict[str, str], status: int, error: str) -> None:
    response = api.token_request(**(password_form(api) | form))
    assert_oauth_error(response, status, error)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


def test_token_endpoint_wants_a_form(api: ApiClient) -> None:
    response = api.http.post(api.simulator.token_url, json=password_form(api))
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-jwt", "Basic abc", "Token x"])
def test_missing_or_garbage_tokens_get_401(api: ApiClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = api.http.get(f"{api.simulator.api_url}{SESSIONS}", headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"error_code", "error_message"}
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_token_signed_by_someone_else_gets_401(api: ApiClient) -> None:
    real = jwt.decode(api.token, options={"verify_signature": False})
    forged = jwt.encode(real, "a-guessed-key-that-is-long-enough-for-hs256", algorithm="HS256")
    assert api.get(SESSIONS, token=forged).status_code == 401


def test_client_credentials_token_lacks_the_admin_scope(api: ApiClient) -> None:
    token = api.token_request(**client_form(api, grant_type="client_credentials")).json()["access_token"]
    response = api.get(SESSIONS, token=token)
    assert response.status_code == 403
    assert response.json()["error_code"] == "insufficient_scope"


def test_foreign_organization_is_403(api: ApiClient) -> None:
    response = api.get("/organizations/id/SOMEONE-ELSE/stations")
    assert response.status_code == 403
    assert response.json()["error_code"] == "forbidden"


def test_tokens_expire(make_simulator: Any) -> None:
    with ApiClient(make_simulator(sizes=TINY, faults={"token_lifetime_s": 1})) as client:
        body = client.token_request(**password_form(client)).json()
        assert body["expires_in"] == 1
        assert client.get(SESSIONS, token=body["access_token"]).status_code == 200
        time.sleep(2.1)
        expired = client.get(SESSIONS, token=body["access_token"])
        assert expired.status_code == 401
        assert expired.json()["error_code"] == "token_expired"
        refreshed = client.token_request(
            **client_form(client, grant_type="refresh_token", refresh_token=body["refresh_token"])
        )
        assert client.get(SESSIONS, token=refreshed.json()["access_token"]).status_code == 200


def test_revocation_invalidates_access_and_refresh_tokens(make_simulator: Any) -> None:
    with ApiClient(make_simulator(sizes=TINY)) as client:
        body = client.token_request(**password_form(client)).json()
        assert client.admin("POST", "revoke-tokens").json() == {"revoked": True}
        revoked = client.get(SESSIONS, token=body["access_token"])
        assert revoked.status_code == 401
        assert revoked.json()["error_code"] == "token_revoked"
        refresh = client.token_request(
            **client_form(client, grant_type="refresh_token", refresh_token=body["refresh_token"])
        )
        assert_oauth_error(refresh, 400, "invalid_grant")
        fresh = client.token_request(**password_form(client)).json()["access_token"]
        assert client.get(SESSIONS, token=fresh).status_code == 200


def test_stats_count_issued_tokens(make_simulator: Any) -> None:
    with ApiClient(make_simulator(sizes=TINY)) as client:
        client.token_request(**password_form(client))
        client.token_request(**client_form(client, grant_type="client_credentials"))
        assert client.admin("GET", "stats").json()["tokens_issued"] == {
            "client_credentials": 1,
            "password": 1,
            "refresh_token": 0,
        }
