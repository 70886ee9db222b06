"""Which tables a run lists in full, and the column that marks their rows gone: shared by the
source, which declares them, and the load step, which marks them (pipelines/load_step.py),
without the load step importing the source."""

from __future__ import annotations

from typing import Any

# Tables loaded from a full listing on every run: after a successful run, rows its listing no
# longer contains get `_wl_deleted_at`; a row that comes back is loaded anew without it.
DELETED_AT = "_wl_deleted_at"
SOFT_DELETE_COLUMNS: dict[str, Any] = {DELETED_AT: {"data_type": "timestamp", "timezone": True, "nullable": True}}
FULL_LISTING_TABLES = ("members", "member_payment_methods", "member_subscriptions", "charging_stations")
# each listed station's current lists, replaced per station
STATION_LIST_TABLES = ("station_cases", "station_connection_chains", "station_maintenance_windows")
