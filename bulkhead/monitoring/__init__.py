"""Production monitoring from the payload drop: drift against the champion's snapshot, and
live accuracy where feedback came back (`bulkhead monitor`)."""
