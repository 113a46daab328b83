from pathlib import Path

from cryptography import x509

from bulkhead.platform import tls
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.settings import PlatformSettings, Zone


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_certs_cover_every_address_and_keys_stay_private(tmp_path: Path) -> None:
    settings = PlatformSettings(home=tmp_path / ".bulkhead")
    paths = StatePaths.at(settings.home)
    files = tls.ensure(settings, paths)
    assert "127.0.0.1" in files.registry.sans and "localhost" in files.registry.sans
    # The --isolate namespace address is covered before the platform is ever isolated.
    assert len([san for san in files.serve_https.sans if san.startswith("10.")]) == 1
    for cert in [*files.services.values(), *files.ray.values()]:
        assert cert.key.stat().st_mode & 0o077 == 0
    assert tls.ensure(settings, paths) == files  # kept once created
    before = _load(files.ca_cert).serial_number
    again = tls.ensure(settings, paths, force=True)
    assert _load(again.ca_cert).serial_number != before


def test_each_zone_has_its_own_ray_ca(tmp_path: Path) -> None:
    settings = PlatformSettings(home=tmp_path / ".bulkhead")
    files = tls.ensure(settings, StatePaths.at(settings.home))
    platform_ca = _load(files.ca_cert).subject
    issuers = {zone: _load(files.for_zone(zone).cert).issuer for zone in Zone}
    assert len(set(issuers.values())) == 3
    for zone, issuer in issuers.items():
        assert issuer == _load(files.zone_ca(zone)).subject
        assert issuer != platform_ca
    assert _load(files.registry.cert).issuer == platform_ca
    assert _load(files.serve_https.cert).issuer == platform_ca


def test_tls_keeps_the_haproxy_ingress_behind_a_terminator(tmp_path: Path) -> None:
    from bulkhead.platform import tls_terminator

    settings = PlatformSettings(home=tmp_path).with_tls()
    assert settings.registry_url.startswith("https://")
    assert settings.serve_url.startswith("https://")
    assert tls_terminator.used(settings)
    config = tls_terminator.config(settings, tmp_path / "x.pem")
    assert f"bind 127.0.0.1:{settings.serve_http_port} ssl crt {tmp_path / 'x.pem'}" in config
    backend = settings.serve.ingress_ports.tls_backend
    assert f"server ingress 127.0.0.1:{backend}" in config
    assert "mode tcp" in config
    plain = settings.model_copy(
        update={"serve": settings.serve.model_copy(update={"haproxy_ingress": False})}
    )
    assert not tls_terminator.used(plain)


def test_every_tls_file_in_the_operators_secrets_passes_check_isolations_audit(
    tmp_path: Path,
) -> None:
    """`up --isolate --tls`, first run together in session 23: `check-isolation` said the
    platform did not hold because the certificates in `.bulkhead/secrets/tls` were 0644 (its
    audit wants every file in a secrets folder owner-only). Nothing but the operator reads
    them (the folder is 0700; each service gets its own copy), so they are written 0600, and
    a platform made before this is tightened by its next `up`."""
    from bulkhead.security.audit import audit_secrets

    settings = PlatformSettings(home=tmp_path / ".bulkhead")
    paths = StatePaths.at(settings.home)
    files = tls.ensure(settings, paths)
    written = sorted(tls.tls_dir(paths).glob("*.pem"))
    assert written and all(path.stat().st_mode & 0o077 == 0 for path in written)
    assert all(finding.ok for finding in audit_secrets(paths, None)), [
        (f.path, f.mode) for f in audit_secrets(paths, None) if not f.ok
    ]
    files.ca_cert.chmod(0o644)  # as an earlier version wrote it
    assert tls.ensure(settings, paths) == files  # kept, not made again ...
    assert files.ca_cert.stat().st_mode & 0o777 == 0o600  # ... but owner-only
