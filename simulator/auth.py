"""OAuth2 as the reference describes it: `POST /token`, form-encoded, JWT bearer tokens.

Grants: `client_credentials` (scopes account, domains, pois_search), `password` (scope
admin; the organization endpoints need it) and `refresh_token` (for tokens from the password
grant; refresh tokens rotate on use). Errors follow RFC 6749 section 5.2. Token lifetime and
revocation are adjustable at run time, so the fault injector can make tokens expire every
few seconds or revoke them all mid-run.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from simulator.validation import ApiError

CLIENT_SCOPES = frozenset({"account", "domains", "pois_search"})
PASSWORD_SCOPES = frozenset({"admin"})
AUDIENCE = "wirelane-api"


@dataclass(frozen=True)
class DemoCredentials:
    client_id: str = "demo-client"
    client_secret: str = "demo-secret"  # noqa: S105 (documented demo credential)
    username: str = "analyst@demo.test"
    password: str = "demo-password"  # noqa: S105 (documented demo credential)


class OAuthError(Exception):
    """An RFC 6749 error response from the token endpoint."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class _Refresh:
    username: str
    scope: str
    expires_at: float


@dataclass
class TokenService:
    credentials: DemoCredentials
    issuer: str
    lifetime_s: int = 3600
    refresh_lifetime_s: int = 30 * 86400
    clock: Callable[[], float] = time.time
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _generation: int = 0
    _refresh_tokens: dict[str, _Refresh] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    issued: dict[str, int] = field(default_factory=lambda: {"client_credentials": 0, "password": 0, "refresh_token": 0})

    # -- token endpoint ------------------------------------------------------------------
    def token(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        client_id, client_secret = self._client(form, authorization)
        if client_id != self.credentials.client_id or not secrets.compare_digest(
            client_secret.encode(), self.credentials.client_secret.encode()
        ):
            raise OAuthError(401, "invalid_client", "Client authentication failed")
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError(400, "invalid_request", "Missing grant_type")
        if grant == "client_credentials":
            scope = self._scope(form.get("scope"), CLIENT_SCOPES, default="account")
            return self._issue(subject=client_id, scope=scope, grant=grant, refresh_for=None)
        if grant == "password":
            username, password = form.get("username", ""), form.get("password")
            if not username or password is None:
                raise OAuthError(400, "invalid_request", "The password grant needs username and password")
            if username != self.credentials.username or not secrets.compare_digest(
                password.encode(), self.credentials.password.encode()
            ):
                raise OAuthError(400, "invalid_grant", "Invalid username or password")
            scope = self._scope(form.get("scope"), PASSWORD_SCOPES, default="admin")
            return self._issue(subject=username, scope=scope, grant=grant, refresh_for=username)
        if grant == "refresh_token":
            token = form.get("refresh_token")
            if not token:
                raise OAuthError(400, "invalid_request", "Missing refresh_token")
            with self._lock:
                entry = self._refresh_tokens.pop(token, None)
            if entry is None or entry.expires_at < self.clock():
                raise OAuthError(400, "invalid_grant", "The refresh token is invalid, expired or revoked")
            return self._issue(subject=entry.username, scope=entry.scope, grant=grant, refresh_for=entry.username)
        raise OAuthError(400, "unsupported_grant_type", f"Grant type {grant!r} is not supported")

    @staticmethod
    def _client(form: Mapping[str, str], authorization: str | None) -> tuple[str, str]:
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode()
                client_id, _, client_secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError) as error:
                raise OAuthError(401, "invalid_client", "Malformed Basic authorization") from error
            return client_id, client_secret
        form_id, form_secret = form.get("client_id"), form.get("client_secret")
        if not form_id or form_secret is None:
            raise OAuthError(401, "invalid_client", "Client credentials are missing")
        return form_id, form_secret

    @staticmethod
    def _scope(requested: str | None, allowed: frozenset[str], default: str) -> str:
        if not requested:
            return default
        scopes = requested.split()
        unknown = [s for s in scopes if s not in allowed]
        if unknown:
            raise OAuthError(400, "invalid_scope", f"Scope not allowed for this grant: {' '.join(unknown)}")
        return " ".join(scopes)

    def _issue(self, *, subject: str, scope: str, grant: str, refresh_for: str | None) -> dict[str, Any]:
        now = self.clock()
        with self._lock:
            generation = self._generation
            self.issued[grant] += 1
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": AUDIENCE,
            "iat": int(now),
            "exp": int(now) + self.lifetime_s,
            "jti": secrets.token_hex(8),
            "scope": scope,
            "client_id": self.credentials.client_id,
            "gen": generation,
        }
        body: dict[str, Any] = {
            "access_token": jwt.encode(claims, self._key, algorithm="HS256"),
            "token_type": "Bearer",
            "expires_in": self.lifetime_s,
            "scope": scope,
        }
        if refresh_for is not None:
            refresh = secrets.token_urlsafe(32)
            with self._lock:
                self._refresh_tokens[refresh] = _Refresh(refresh_for, scope, now + self.refresh_lifetime_s)
            body["refresh_token"] = refresh
        return body

    # -- resource server -----------------------------------------------------------------
    def authorize(self, authorization: str | None, required_scope: str) -> dict[str, Any]:
        """Claims of a valid bearer token with the scope; ApiError 401/403 otherwise."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, "unauthorized", "Missing bearer token")
        token = authorization[7:].strip()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=self.issuer,
                options={"verify_exp": False},
            )
        except jwt.PyJWTError as error:
            raise ApiError(401, "unauthorized", "Invalid access token") from error
        if claims["exp"] <= self.clock():
            raise ApiError(401, "token_expired", "The access token expired")
        if claims.get("gen") != self._generation:
            raise ApiError(401, "token_revoked", "The access token was revoked")
        if required_scope not in str(claims.get("scope", "")).split():
            raise ApiError(403, "insufficient_scope", f"This endpoint needs the {required_scope!r} scope")
        return claims

    def revoke_all(self) -> None:
        """Invalidates every access and refresh token issued so far."""
        with self._lock:
            self._generation += 1
            self._refresh_tokens.clear()
