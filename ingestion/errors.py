"""The one error type the ingest zone raises for bad input."""


class IngestError(ValueError):
    """The input cannot become a snapshot; the message names the problem. Nothing is written."""
