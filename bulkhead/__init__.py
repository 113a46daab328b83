"""Bulkhead: train on one Ray cluster, serve from another, meet only at the registry.

This package holds the local platform control plane (``bulkhead up|down|status``) and the
CLI. Each zone lives in its own top-level package (``ingestion``, ``training``,
``registry``, ``serving``) so that it can be installed and imported alone.
"""

__version__ = "0.1.0"
