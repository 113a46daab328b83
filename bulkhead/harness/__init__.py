"""Measuring and breaking the running platform: load tests, the side-by-side bench, chaos."""
