"""OAuth2 of the simulator: the token endpoint as the reference describes it (`POST /token`,
form-encoded, JWT bearer tokens), RFC 6749 error bodies, and how the resource side treats
missing, foreign, expired and revoked tokens.

A sync client is only as robust as the auth failures it has been tested against, so every
error the real gateway can answer is pinned here with its status, error code and headers.
Tests that issue tokens on the shared simulator only add tokens of their own; anything that
revokes tokens or shortens their lifetime runs on a private simulator.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from simulator.server import RunningSimulator
from simulator.world import SimulatorSizes
from tests.api_client import ApiClient

TINY = SimulatorSizes(organizations=1, stations=10, members=20, sessions=500, days=30)
MakeSimulator = Callable[..., RunningSimulator]
JSON = dict[str, Any]


# -- helpers -----------------------------------------------------------------------------
def sessions_path(client: ApiClient) -> str:
    return f"/organizations/id/{client.organizations[0]}/sessions"


def client_form(client: ApiClient, **extra: str) -> dict[str, str]:
    creds = client.simulator.credentials
    return {"client_id": creds.client_id, "client_secret": creds.client_secret, **extra}


def password_form(client: ApiClient, **extra: str) -> dict[str, str]:
    creds = client.simulator.credentials
    return client_form(client, grant_type="password", username=creds.username, password=creds.password, **extra)


def grant(client: ApiClient, form: dict[str, str]) -> JSON:
    """A successful token response (asserted), as JSON."""
    response = client.token_request(**form)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store", "token responses must not be cached (RFC 6749 5.1)"
    body: JSON = response.json()
    return body


def claims_of(token: str) -> JSON:
    """The JWT's claims, read without the key, as a client would read `exp`."""
    claims: JSON = jwt.decode(token, options={"verify_signature": False})
    return claims


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    """RFC 6749 section 5.2: the status, exactly `error` + `error_description`, never cached."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error
    assert isinstance(body["error_description"], str) and body["error_description"]
    assert response.headers["cache-control"] == "no-store"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic"), "RFC 6749 5.2: 401 names the scheme"


def assert_http_error(response: httpx.Response, status: int, error_code: str | None = None) -> None:
    """The reference's HttpError body; 401s also carry a Bearer challenge (RFC 6750 3)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "error_message"}, body
    assert isinstance(body["error_message"], str) and body["error_message"]
    if error_code is not None:
        assert body["error_code"] == error_code
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer ")


def wait_past(instant: int, bound_s: float = 3.0) -> None:
    """Sleeps until the wall clock is past `instant` (a JWT `exp`), never longer than bound_s."""
    delay = instant - time.time() + 0.05
    assert delay <= bound_s, f"refusing to wait {delay:.1f}s"
    if delay > 0:
        time.sleep(delay)


def start_of_second() -> None:
    """Waits for the next whole second (< 1 s): `iat` is truncated to whole seconds, so a
    1-second token issued late in a second would expire within milliseconds."""
    time.sleep(1.02 - time.time() % 1)


# -- client credentials grant ------------------------------------------------------------
def test_client_credentials_default_scope_is_account(api: ApiClient) -> None:
    """The reference's example asks for `scope=account`; leaving the scope out gets the same."""
    body = grant(api, client_form(api, grant_type="client_credentials"))
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "account"
    assert "refresh_token" not in body, "RFC 6749 4.4.3: no refresh token for client credentials"
    claims = claims_of(body["access_token"])
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 3600
    assert claims["scope"] == "account"
    assert claims["sub"] == api.simulator.credentials.client_id
    assert claims["iss"] == api.simulator.base_url


@pytest.mark.parametrize("scope", ["account", "domains", "pois_search", "account domains pois_search"])
def test_client_credentials_each_scope(api: ApiClient, scope: str) -> None:
    """Each scope of the OAuth2ClientCredential scheme can be asked for, alone or together."""
    body = grant(api, client_form(api, grant_type="client_credentials", scope=scope))
    assert body["scope"] == scope
    claims = claims_of(body["access_token"])
    assert claims["scope"] == scope
    assert claims["exp"] - claims["iat"] == body["expires_in"]


@pytest.mark.parametrize(
    ("grant_type", "scope"),
    [
        ("client_credentials", "admin"),  # admin is the password flow's scope
        ("client_credentials", "billing"),
        ("client_credentials", "account billing"),
        ("password", "account"),
    ],
)
def test_unknown_scope_is_invalid_scope(api: ApiClient, grant_type: str, scope: str) -> None:
    """Scopes belong to one flow; a scope outside it is refused, not silently dropped."""
    form = password_form(api, scope=scope) if grant_type == "password" else client_form(api, scope=scope)
    response = api.token_request(**(form | {"grant_type": grant_type}))
    assert_oauth_error(response, 400, "invalid_scope")


# -- password and refresh grants ---------------------------------------------------------
@pytest.mark.parametrize("scope", [None, "admin"])
def test_password_grant_gives_admin_jwt_and_refresh_token(api: ApiClient, scope: str | None) -> None:
    """The password grant is what the organization endpoints need: scope admin, a refresh token."""
    form = password_form(api) if scope is None else password_form(api, scope=scope)
    body = grant(api, form)
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "admin"
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 32
    claims = claims_of(body["access_token"])
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 3600
    assert claims["sub"] == api.simulator.credentials.username
    assert claims["scope"] == "admin"
    assert api.get(sessions_path(api), {"page_size": 1}, token=body["access_token"]).status_code == 200


def test_refresh_tokens_rotate_and_work_once(api: ApiClient) -> None:
    """Refresh tokens rotate: each use returns a new one, and a replayed old one is
    `invalid_grant` (a client that keeps the old refresh token locks itself out)."""
    first = grant(api, password_form(api))
    second = grant(api, client_form(api, grant_type="refresh_token", refresh_token=first["refresh_token"]))
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == "admin"
    claims = claims_of(second["access_token"])
    assert claims["exp"] - claims["iat"] == second["expires_in"]
    assert claims["sub"] == api.simulator.credentials.username
    assert api.get(sessions_path(api), {"page_size": 1}, token=second["access_token"]).status_code == 200

    replay = api.token_request(**client_form(api, grant_type="refresh_token", refresh_token=first["refresh_token"]))
    assert_oauth_error(replay, 400, "invalid_grant")
    # the rotated token is still good, and rotates in turn
    third = grant(api, client_form(api, grant_type="refresh_token", refresh_token=second["refresh_token"]))
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])


def test_unknown_refresh_token_is_invalid_grant(api: ApiClient) -> None:
    """A refresh token the server never issued is `invalid_grant`, like a used one."""
    response = api.token_request(**client_form(api, grant_type="refresh_token", refresh_token="never-issued"))
    assert_oauth_error(response, 400, "invalid_grant")


# -- client authentication ---------------------------------------------------------------
def basic(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


@pytest.mark.parametrize("grant_type", ["client_credentials", "password"])
def test_client_authentication_with_http_basic(api: ApiClient, grant_type: str) -> None:
    """RFC 6749 2.3.1 allows the client to authenticate with HTTP Basic instead of the body."""
    creds = api.simulator.credentials
    form = {"grant_type": grant_type}
    if grant_type == "password":
        form |= {"username": creds.username, "password": creds.password}
    response = api.http.post(
        api.simulator.token_url, data=form, headers={"Authorization": basic(creds.client_id, creds.client_secret)}
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == ("admin" if grant_type == "password" else "account")


@pytest.mark.parametrize(
    "authorization",
    [
        basic("demo-client", "wrong-secret"),
        basic("someone-else", "demo-secret"),
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"\xff\xfe").decode(),
    ],
)
def test_bad_http_basic_is_invalid_client(api: ApiClient, authorization: str) -> None:
    """Wrong or unreadable Basic credentials are 401 `invalid_client` with a Basic challenge."""
    creds = api.simulator.credentials
    response = api.http.post(
        api.simulator.token_url,
        data={"grant_type": "password", "username": creds.username, "password": creds.password},
        headers={"Authorization": authorization},
    )
    assert_oauth_error(response, 401, "invalid_client")


# -- RFC 6749 error responses ------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"client_id": None}, 401, "invalid_client"),
        ({"client_secret": None}, 401, "invalid_client"),
        ({"password": "wrong"}, 400, "invalid_grant"),
        ({"username": "nobody@demo.test"}, 400, "invalid_grant"),
        ({"grant_type": "implicit"}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type"),
        ({"grant_type": None}, 400, "invalid_request"),
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"username": None}, 400, "invalid_request"),
        ({"password": None}, 400, "invalid_request"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),  # no refresh_token parameter
    ],
)
def test_token_errors_follow_rfc_6749(api: ApiClient, change: dict[str, str | None], status: int, error: str) -> None:
    """Each way a token request can be wrong gets the RFC 6749 5.2 code a client branches on:
    401 `invalid_client` is a configuration error, 400 `invalid_grant` means log in again."""
    form = password_form(api)
    for key, value in change.items():
        if value is None:
            del form[key]
        else:
            form[key] = value
    assert_oauth_error(api.token_request(**form), status, error)


@pytest.mark.parametrize(
    "send",
    [
        pytest.param(lambda http, url, form: http.post(url, json=form), id="json"),
        pytest.param(lambda http, url, form: http.post(url, files={"x": b"1"}, data=form), id="multipart"),
        pytest.param(
            lambda http, url, form: http.post(url, content=str(form).encode(), headers={"Content-Type": "text/plain"}),
            id="text",
        ),
        pytest.param(lambda http, url, form: http.post(url), id="no-body"),
    ],
)
def test_token_endpoint_wants_a_form(api: ApiClient, send: Callable[[httpx.Client, str, JSON], httpx.Response]) -> None:
    """The reference sends `application/x-www-form-urlencoded`; any other body is a 400,
    even when it carries valid credentials."""
    response = send(api.http, api.simulator.token_url, password_form(api))
    assert_oauth_error(response, 400, "invalid_request")


# -- resource server ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer garbage", "Bearer a.b.c", "Basic ZGVtbzpkZW1v", "Token abc"],
)
def test_missing_or_garbage_token_is_401(api: ApiClient, authorization: str | None) -> None:
    """No usable bearer token: 401 with the reference's HttpError body and a Bearer challenge."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = api.http.get(f"{api.simulator.api_url}{sessions_path(api)}", headers=headers)
    assert_http_error(response, 401, "unauthorized")


def test_tampered_or_foreign_tokens_are_401(api: ApiClient) -> None:
    """A token is only trusted if this server signed it: changed claims or another key fail."""
    real = grant(api, client_form(api, grant_type="client_credentials"))["access_token"]
    header, _, signature = real.split(".")
    claims = claims_of(real) | {"scope": "admin"}
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = f"{header}.{forged_payload}.{signature}"
    assert_http_error(api.get(sessions_path(api), token=tampered), 401, "unauthorized")
    foreign = jwt.encode(claims, "another-key-that-is-long-enough-for-hs256!", algorithm="HS256")
    assert_http_error(api.get(sessions_path(api), token=foreign), 401, "unauthorized")
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert_http_error(api.get(sessions_path(api), token=unsigned), 401, "unauthorized")


@pytest.mark.parametrize("scope", ["account", "domains pois_search"])
def test_client_credentials_token_on_organization_endpoint_is_403(api: ApiClient, scope: str) -> None:
    """A valid token without `admin` is authenticated but not authorized: 403, not 401,
    so a client knows that refreshing the token will not help."""
    token = grant(api, client_form(api, grant_type="client_credentials", scope=scope))["access_token"]
    org = api.organizations[0]
    for path in (f"/organizations/id/{org}/sessions", f"/organizations/id/{org}/stations"):
        assert_http_error(api.get(path, token=token), 403, "insufficient_scope")


@pytest.mark.parametrize("organization", ["NO-SUCH-ORG", "demotenant-2", "X"])
def test_unknown_organization_is_403(api: ApiClient, organization: str) -> None:
    """An organization that does not exist looks like one the account may not see (403):
    the API gives no oracle for which organization ids exist."""
    assert organization not in api.organizations
    for endpoint in ("sessions", "stations", "members", "tariffs"):
        response = api.get(f"/organizations/id/{organization}/{endpoint}")
        assert_http_error(response, 403, "forbidden")
        assert organization in response.json()["error_message"]


def test_expired_token_is_401(make_simulator: MakeSimulator) -> None:
    """With a 1-second lifetime a token works at once, is refused as `token_expired` after
    its `exp`, and the refresh token still gets a working one (it outlives the access token)."""
    with ApiClient(make_simulator(sizes=TINY, faults={"token_lifetime_s": 1})) as client:
        start_of_second()
        body = grant(client, password_form(client))
        claims = claims_of(body["access_token"])
        assert body["expires_in"] == 1 and claims["exp"] - claims["iat"] == 1
        assert client.get(sessions_path(client), {"page_size": 1}, token=body["access_token"]).status_code == 200

        wait_past(claims["exp"])
        expired = client.get(sessions_path(client), {"page_size": 1}, token=body["access_token"])
        assert_http_error(expired, 401, "token_expired")
        assert 'error="invalid_token"' in expired.headers["www-authenticate"]

        start_of_second()
        refreshed = grant(client, client_form(client, grant_type="refresh_token", refresh_token=body["refresh_token"]))
        assert client.get(sessions_path(client), {"page_size": 1}, token=refreshed["access_token"]).status_code == 200


def test_revoking_all_tokens(make_simulator: MakeSimulator) -> None:
    """`POST /_simulator/revoke-tokens` is a key rotation at the vendor: every access token
    (of any grant) is then 401 `token_revoked`, every refresh token `invalid_grant`, and only
    a new password grant gets the client going again."""
    with ApiClient(make_simulator(sizes=TINY)) as client:
        path = sessions_path(client)
        before = grant(client, password_form(client))
        client_token = grant(client, client_form(client, grant_type="client_credentials"))["access_token"]
        assert client.get(path, {"page_size": 1}, token=before["access_token"]).status_code == 200
        assert_http_error(client.get(path, token=client_token), 403, "insufficient_scope")

        revoked = client.admin("POST", "revoke-tokens")
        assert revoked.status_code == 200 and revoked.json() == {"revoked": True}

        assert_http_error(client.get(path, token=before["access_token"]), 401, "token_revoked")
        assert_http_error(client.get(path, token=client_token), 401, "token_revoked")
        refresh = client.token_request(
            **client_form(client, grant_type="refresh_token", refresh_token=before["refresh_token"])
        )
        assert_oauth_error(refresh, 400, "invalid_grant")

        after = grant(client, password_form(client))
        assert client.get(path, {"page_size": 1}, token=after["access_token"]).status_code == 200
        assert grant(client, client_form(client, grant_type="refresh_token", refresh_token=after["refresh_token"]))
        assert client.admin("GET", "stats").json()["tokens_issued"] == {
            "client_credentials": 1,
            "password": 2,
            "refresh_token": 1,
        }
