"""The train zone (GPU nodes): Ray Train fine-tuning, evaluation, ONNX export, registry gate.

Not built yet: this lands with the training issue. It reads dataset snapshots written by
``ingestion`` (verified with ``ingestion.snapshot.verify``) and writes to the registry only
through ``registry``'s writer. It never imports ``serving``.
"""
