"""The train zone (GPU nodes): Ray Train fine-tuning, evaluation, ONNX export, registry gate.

``job`` is the Ray job's entry point; ``trainer`` runs the TorchTrainer (``loop`` on each
worker), ``bundling`` exports and evaluates, ``promotion`` gates and promotes. Snapshots are
read and verified through ``contracts.snapshot``; the registry is written only through
``registry``'s writer. It never imports ``serving`` or ``ingestion``; ``schema`` is the one
module the control plane imports.
"""
