import os
from pathlib import Path

import pytest

from bulkhead.platform.secrets import SecretFileError, ensure_token, read_secret, write_secret
from registry.credentials import RegistryCredentials


def test_secrets_are_owner_only(tmp_path: Path) -> None:
    file = tmp_path / "secrets" / "token"
    token = ensure_token(file)
    assert file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700
    assert ensure_token(file) == token  # stable once generated
    assert len(token) >= 40


def test_readable_by_others_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "token"
    write_secret(file, "abc")
    os.chmod(file, 0o644)
    with pytest.raises(SecretFileError, match="owner only"):
        read_secret(file)


def test_group_readable_like_a_kubernetes_secret_volume_is_accepted(tmp_path: Path) -> None:
    file = tmp_path / "token"
    write_secret(file, "abc")
    os.chmod(file, 0o440)
    assert read_secret(file) == "abc"
    os.chmod(file, 0o460)
    with pytest.raises(SecretFileError):
        read_secret(file)


def test_missing_secret_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SecretFileError, match="bulkhead up"):
        read_secret(tmp_path / "absent")


def test_credentials_round_trip_and_never_print_the_password(tmp_path: Path) -> None:
    creds = RegistryCredentials.model_validate(
        {"tracking_uri": "http://x:1", "username": "server", "password": "s3cret-value"}
    )
    file = tmp_path / "c.json"
    write_secret(file, creds.to_json())
    loaded = RegistryCredentials.from_file(file)
    assert loaded == creds
    assert "s3cret-value" not in repr(loaded) and "s3cret-value" not in str(loaded)
    assert loaded.client_env()["MLFLOW_TRACKING_PASSWORD"] == "s3cret-value"
    os.chmod(file, 0o604)
    with pytest.raises(PermissionError):
        RegistryCredentials.from_file(file)
