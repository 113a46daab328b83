"""``python -m bulkhead``: the same command as the ``bulkhead`` console script."""

from bulkhead.cli import main

main()
