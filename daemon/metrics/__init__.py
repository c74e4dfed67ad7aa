"""Metrics: Prometheus text on a loopback port, off by default."""
