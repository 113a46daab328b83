"""The signer: the one identity that holds the model-signing key (contracts/signatures.py)."""
