"""smartpapers local stack (development and tests only; never in an image)."""
