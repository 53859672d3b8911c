"""One stack per concern of DESIGN.md §5."""
