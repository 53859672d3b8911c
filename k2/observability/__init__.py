"""How K2's processes report: CloudWatch embedded-metric-format documents and where they go."""
