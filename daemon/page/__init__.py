"""The owner's status page: every post, every platform's outcome, what waits and what failed."""
