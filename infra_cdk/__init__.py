"""The K2 CDK app: one stack per concern (DESIGN.md §5), built from a ``DeploymentConfig``."""
