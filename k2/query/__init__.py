"""Reading the lakehouse: pyiceberg plans the scan, pyarrow reads, DuckDB executes."""
