"""The Wirelane API 2.0 dlt source (`sources.wirelane.source`).

The package imports nothing itself: commands that need only its errors or settings
(`transform`, `status`) then start without dlt's extract machinery, pyarrow and the OpenAPI
document."""
