"""The ingest zone: read, clean, de-duplicate, split and snapshot a labelled text data set.

The pure steps (``transforms``, ``split``, ``snapshot``) need only pandas and pyarrow and are
unit-tested without Ray; ``pipeline`` runs them as a Ray Data job on the ingest cluster.
"""
