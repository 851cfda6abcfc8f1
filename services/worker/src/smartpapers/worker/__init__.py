"""smartpapers."""
