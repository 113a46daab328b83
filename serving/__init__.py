"""The serve zone (low-latency CPU nodes): the Ray Serve application and its client.

``app`` is the Serve deployment shell; ``core``, ``lifecycle``, ``pool`` and ``predictor``
do the work without Ray; ``http/`` is the HTTP layer; ``client`` is how everyone else calls
the zone. Approved bundles come through ``registry``'s reader; nothing here imports torch,
``training`` or ``ingestion`` (a test enforces it).
"""
