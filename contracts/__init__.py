"""What crosses a process boundary, defined once.

Environment variable names, the job spec/result encoding and job exit codes, registry tag
names and aliases, the serve API's paths and headers, and the bundle and snapshot manifests.
Every zone, the registry and the control plane import these; this package imports nothing
but pydantic and the standard library, so importing it never drags a zone's stack along.
"""
