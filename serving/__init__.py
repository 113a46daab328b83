"""The serve zone (low-latency CPU nodes): the Ray Serve application.

Not built yet: this lands with the serving issue. It reads approved bundles through
``registry``'s reader and never imports torch or ``training`` (a test enforces it).
"""
