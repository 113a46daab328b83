"""`bulkhead bench`: the same model bundle behind every stack a user might pick, one at a time."""
