"""Build-time tooling for the deployables: what the query API's Lambda artifact holds, how it is
built, and how big it is against Lambda's limits. Nothing here is imported at run time."""
