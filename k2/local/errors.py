"""The one error the local cloud raises: a cause a person can act on, shown as one line."""


class LocalCloudError(RuntimeError):
    """Something outside K2 stops the local cloud (missing Java, busy port, failed download)."""
