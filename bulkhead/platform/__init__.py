"""The platform itself: start, stop and describe the registry and the zones' Ray clusters.

``core`` orchestrates; ``services`` and ``procs`` start and stop processes; ``settings``,
``paths``, ``state`` and ``secrets`` say what runs where; ``identity`` and ``handover`` give
each service its own Unix user and exactly the files it needs; ``jobs`` submits zone work.
"""
