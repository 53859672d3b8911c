"""The local cloud: real components standing in for AWS on one machine (DESIGN.md §4)."""
