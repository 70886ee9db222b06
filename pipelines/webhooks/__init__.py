"""Near-real-time loads from the API's organization events: receive, queue, drain (docs/webhooks.md)."""
