"""Locust load profiles and the comparison benchmark (lands with the load-test issue)."""
