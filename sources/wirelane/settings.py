"""Where the Wirelane API lives and the defaults the source runs with.

Hosts come from the reference (`servers` and the OAuth host names of its description); the
simulator is the default so that everything works with no configuration at all.
"""

from __future__ import annotations

import re
from typing import Final

ENVIRONMENTS: Final[dict[str, tuple[str, str]]] = {
    # environment -> (API base URL, OAuth token URL)
    "production": ("https://api.wirelane.com/apis/emc", "https://oauth.emobilitycloud.com/token"),
    "staging": ("https://api.wirelane-staging.com/apis/emc", "https://oauth.emobilitycloud-staging.com/token"),
    "simulator": ("http://127.0.0.1:8765/apis/emc", "http://127.0.0.1:8765/token"),
}
DEFAULT_ENVIRONMENT: Final = "simulator"
DEFAULT_ORGANIZATIONS: Final = ("DEMOTENANT", "BORNES-ATLANTIQUE")

# The reference's pattern for organization, account and session ids.
ID_PATTERN: Final = re.compile(r"^[a-zA-Z0-9\-_]+$")

DEFAULT_PAGE_SIZE: Final = 1000
DEFAULT_MAX_PAGES: Final = 100_000
DEFAULT_CONCURRENCY: Final = 8
DEFAULT_REQUESTS_PER_SECOND: Final = 50.0
DEFAULT_TIMEOUT_S: Final = 60.0
DEFAULT_MAX_ATTEMPTS: Final = 8
DEFAULT_MAX_BACKOFF_S: Final = 60.0
DEFAULT_SESSION_LAG_S: Final = 3600
DEFAULT_OPEN_SESSION_REFRESH_H: Final = 24
DEFAULT_SESSIONS_PER_SLICE: Final = 1_000_000
DEFAULT_DETAIL_REFRESH_H: Final = 24.0
TOKEN_EXPIRY_MARGIN_S: Final = 30

FINAL_SESSION_STATUSES: Final = frozenset({"closed", "canceled", "error", "error_consecutive_start"})
