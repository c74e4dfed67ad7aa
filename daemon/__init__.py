"""dropcast: drop a photo and its caption into a folder, and it is published everywhere."""

__version__ = "0.1.0"
