"""Environment variable names one process sets and another reads.

A name spelled in two places drifts; every reader and writer imports it from here.
"""

from __future__ import annotations

# --- set by the control plane on every zone's processes
# JSON file with the zone's registry user, password, URL and CA (registry/credentials.py).
REGISTRY_CREDENTIALS = "BULKHEAD_REGISTRY_CREDENTIALS"
# The zone a process belongs to (ingest, train, serve): logs and audits name it.
ZONE = "BULKHEAD_ZONE"
# Marks every process `bulkhead up` starts, so `down` stops its own and nothing else.
PROCESS_MARKER = "BULKHEAD_PROCESS_MARKER"

# --- the serve zone
# File holding the API key every /v1 and /v2/models request must present. Serving, the
# KubeRay manifests, the load generators and the chaos harness all read this one name.
SERVE_API_KEY_FILE = "BULKHEAD_SERVE_API_KEY_FILE"
# Per-client keys with model scopes (hashes only; `bulkhead keys`), re-read while serving.
SERVE_CLIENT_KEYS_FILE = "BULKHEAD_SERVE_CLIENT_KEYS_FILE"
# CA bundle a client verifies the serve endpoint's HTTPS certificate with (`up --tls`).
SERVE_CA_FILE = "BULKHEAD_SERVE_CA_FILE"
# Folder under which each replica keeps the bundles it downloads.
SERVE_CACHE_DIR = "BULKHEAD_SERVE_CACHE_DIR"
# The serve zone's key ring: the public keys model signatures may be made with (JSON,
# contracts/signatures.py ``KeyRing``), re-read while serving (a key rotation changes it).
SERVE_TRUSTED_KEYS_FILE = "BULKHEAD_SERVE_TRUSTED_KEYS_FILE"

# --- the registry zone
# Comma-separated registry users allowed to create experiments and registered models.
REGISTRY_CREATORS = "BULKHEAD_REGISTRY_CREATORS"
# Seconds the registry's alias-poll route keeps an answer (registry/alias_poll.py). A write
# through the same registry process drops its answers at once, so one registry process may
# keep them long; several processes (workers, pods) keep them for the staleness they accept.
REGISTRY_ALIAS_CACHE_S = "BULKHEAD_REGISTRY_ALIAS_CACHE_S"

# --- the load generators (a Locust process started by `bulkhead loadtest` / `bench`)
MODEL_NAME = "BULKHEAD_MODEL_NAME"
# Load tests: the model's prediction path, and whether its OIP v2 routes are served.
LOADTEST_PREDICT_PATH = "BULKHEAD_LOADTEST_PREDICT_PATH"
LOADTEST_OIP = "BULKHEAD_LOADTEST_OIP"
LOAD_PROFILE = "BULKHEAD_PROFILE"
LOADTEST_TEXTS = "BULKHEAD_LOADTEST_TEXTS"
REQUEST_LOG = "BULKHEAD_REQUEST_LOG"
BENCH_TARGET = "BULKHEAD_BENCH_TARGET"
# "1": every bench request on a new TCP connection (`Connection: close`), as urllib,
# requests.post without a session or curl in a loop send them.
BENCH_NEW_CONNECTION = "BULKHEAD_BENCH_NEW_CONNECTION"
# Members one model family replica holds at once (serving/family.py; Serve's LRU beyond it).
FAMILY_MODELS_PER_REPLICA = "BULKHEAD_FAMILY_MODELS_PER_REPLICA"
