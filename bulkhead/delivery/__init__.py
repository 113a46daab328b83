"""Progressive delivery: the rollout controller that runs where the operator's credentials
are, reads the serve zone's per-version metrics and moves the registry's rollout state."""
