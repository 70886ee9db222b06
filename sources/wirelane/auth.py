"""OAuth2 for the Wirelane API as an `httpx.Auth`: password or client-credentials grant.

Why an httpx auth flow rather than authlib's OAuth2Client: the two things this API needs beyond
fetching a token are a transparent retry after a 401 (a token revoked or rotated mid-run) and
falling back from a refused refresh token to a fresh grant; an auth flow does both in one
place, for every request of the client, and the token requests themselves stay plain httpx.

* Tokens are renewed `margin` seconds before they expire, with the refresh token when the
  password grant gave one, falling back to a new grant when the refresh is refused.
* One token fetch at a time under concurrency (a lock; waiters reuse the fresh token).
* A 401 invalidates the token and repeats the request with a new one, up to three times: a
  token can be revoked again between our getting it and the API checking it.
* Secrets and tokens never reach logs, exception messages or reprs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Literal

import httpx
import tenacity

from sources.wirelane.errors import WirelaneAuthError, WirelaneConfigError

Grant = Literal["password", "client_credentials"]
# New tokens one request may try after a 401. One was not always enough: with eight requests in
# flight, the fault matrix's revocation of every token each 40 requests once reached a retried
# request between its new token and the API's check (the API may hold a request before it
# checks the token). A token the API keeps refusing still ends the request with the 401.
RENEWALS_AFTER_401 = 3


@dataclass(frozen=True)
class OAuthSettings:
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    grant: Grant = "password"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    scope: str | None = None
    margin_s: float = 30.0


@dataclass
class _Token:
    access_token: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)


class _TransientTokenFailure(Exception):
    """A 429 or 5xx from the token endpoint: worth another try."""


class WirelaneAuth(httpx.Auth):
    def __init__(self, settings: OAuthSettings, http: httpx.Client) -> None:
        if settings.grant == "password" and (not settings.username or settings.password is None):
            raise WirelaneConfigError("the password grant needs sources.wirelane.credentials.username and .password")
        self.settings = settings
        self._http = http  # for token requests only (no auth, its own retries)
        self._token: _Token | None = None
        self._lock = threading.Lock()
        self.fetched = 0  # token requests made, for run statistics

    def __repr__(self) -> str:
        return f"WirelaneAuth(grant={self.settings.grant!r}, token_url={self.settings.token_url!r})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        for _ in range(RENEWALS_AFTER_401):
            if response.status_code != 401:
                return
            self.invalidate(token)
            token = self.access_token()
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request

    def access_token(self) -> str:
        """A token valid for at least `margin` more seconds."""
        with self._lock:
            token = self._token
            if token is None or token.expires_at - self.settings.margin_s <= time.monotonic():
                token = self._renew(token)
                self._token = token
            return token.access_token

    def invalidate(self, access_token: str) -> None:
        """Forgets a token the API refused, unless another thread already replaced it."""
        with self._lock:
            if self._token is not None and self._token.access_token == access_token:
                self._token = _Token("", 0.0, self._token.refresh_token)

    def _renew(self, current: _Token | None) -> _Token:
        if current is not None and current.refresh_token:
            try:
                return self._request({"grant_type": "refresh_token", "refresh_token": current.refresh_token})
            except WirelaneAuthError:
                pass  # refresh refused (rotated, revoked, expired): start over with a new grant
        s = self.settings
        form: dict[str, str] = {"grant_type": s.grant}
        if s.grant == "password":
            form |= {"username": s.username or "", "password": s.password or ""}
        if s.scope:
            form["scope"] = s.scope
        return self._request(form)

    def _request(self, form: dict[str, str]) -> _Token:
        s = self.settings
        data = form | {"client_id": s.client_id, "client_secret": s.client_secret}
        try:
            for attempt in tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(_TransientTokenFailure),
                stop=tenacity.stop_after_attempt(5),
                wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=10),
                reraise=True,
            ):
                with attempt:
                    response = self._http.post(s.token_url, data=data, headers={"Accept": "application/json"})
                    if response.status_code == 429 or response.status_code >= 500:
                        raise _TransientTokenFailure(response.status_code)
        except (httpx.HTTPError, _TransientTokenFailure) as error:
            raise WirelaneAuthError(f"cannot get a token from {s.token_url}: {type(error).__name__} {error}") from None
        self.fetched += 1
        if response.status_code != 200:
            raise WirelaneAuthError(_describe_refusal(response, form["grant_type"]))
        try:
            body = response.json()
            expires_in = float(body.get("expires_in", 3600))
            return _Token(str(body["access_token"]), time.monotonic() + expires_in, body.get("refresh_token"))
        except (ValueError, KeyError, TypeError):
            raise WirelaneAuthError(f"the token endpoint {s.token_url} answered without an access token") from None


def _describe_refusal(response: httpx.Response, grant: str) -> str:
    try:
        body = response.json()
        error = f"{body.get('error', 'error')}: {body.get('error_description', '')}".strip(": ")
    except ValueError:
        error = f"HTTP {response.status_code}"
    hint = {
        "invalid_client": "check sources.wirelane.credentials.client_id and client_secret",
        "invalid_grant": "check sources.wirelane.credentials.username and password",
        "invalid_scope": "check sources.wirelane.scope",
        "unsupported_grant_type": "check sources.wirelane.grant",
    }.get(error.split(":")[0], "check the credentials and sources.wirelane.token_url")
    return f"the token endpoint refused the {grant} grant ({error}); {hint}"
