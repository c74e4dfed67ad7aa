"""Platforms. Each module here (but `base` and `_*`) holds one `Publisher` and is found on its own."""
