"""Spark transformations (DataFrame → DataFrame) and the job runners that wire them to I/O."""
