"""The K2 query API: FastAPI over :mod:`k2.query`, served by Lambda behind API Gateway."""

API_VERSION = "1.0.0"
"""The contract's version (paths stay under /v1 while it is 1.x)."""
