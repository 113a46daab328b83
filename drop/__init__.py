"""The one-way drop between the serve zone and the ingest zone: its keeper and its reader."""
