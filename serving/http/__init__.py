"""The serve zone's HTTP layer: middleware, auth, errors, telemetry and the two APIs.

``build_api`` assembles one FastAPI app per replica around that replica's ``ServingCore``;
nothing here is a class attribute or a module global, so two apps never share settings.
"""
