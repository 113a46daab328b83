"""What an operator does to a running platform: ingest, train, deploy, manage models.

Each operation returns a result and reports progress through a ``Reporter``; none imports
Typer or rich, so the CLI, tests and scripts drive the same code.
"""
