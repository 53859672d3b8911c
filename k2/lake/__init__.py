"""Iceberg table definitions (each table defined once), the catalog factory, table maintenance."""
