"""Environment variables the locustfiles read; importing this has no side effects."""

API_KEY_FILE_ENV = "BULKHEAD_API_KEY_FILE"
MODEL_NAME_ENV = "BULKHEAD_MODEL_NAME"
PROFILE_ENV = "BULKHEAD_PROFILE"
DEFAULT_API_KEY_FILE = ".bulkhead/secrets/serve-api-key"
