"""The Wirelane API 2.0 dlt source (built in issue 3)."""
