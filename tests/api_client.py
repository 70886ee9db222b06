"""A thin test client for the simulator: real HTTP with httpx, password-grant token."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from simulator.server import RunningSimulator


class ApiClient:
    def __init__(self, simulator: RunningSimulator, timeout: float = 30.0) -> None:
        self.simulator = simulator
        self.http = httpx.Client(timeout=timeout)
        self._token: str | None = None

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.http.close()

    @property
    def organizations(self) -> list[str]:
        return [org.id for org in self.simulator.world.organizations]

    def token_request(self, **form: str) -> httpx.Response:
        return self.http.post(self.simulator.token_url, data=form)

    def password_token(self) -> str:
        creds = self.simulator.credentials
        response = self.token_request(
            grant_type="password",
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            username=creds.username,
            password=creds.password,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = self.password_token()
        return self._token

    def get(
        self, path: str, params: Any = None, token: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """GET an API path (relative to /apis/emc) with a bearer token."""
        all_headers = {"Authorization": f"Bearer {token or self.token}", **(headers or {})}
        return self.http.get(f"{self.simulator.api_url}{path}", params=params, headers=all_headers)

    def get_all(self, path: str, params: dict[str, Any] | None = None, page_size: int = 1000) -> list[dict[str, Any]]:
        """Every item of a paginated list endpoint."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            response = self.get(path, {**(params or {}), "page": page, "page_size": page_size})
            response.raise_for_status()
            batch = response.json()
            items.extend(batch)
            if len(batch) < page_size:
                return items
            page += 1

    def admin(self, method: str, route: str, json: Any = None) -> httpx.Response:
        return self.http.request(method, f"{self.simulator.base_url}/_simulator/{route}", json=json)
