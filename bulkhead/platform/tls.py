"""A local certificate authority and one certificate per service, for ``up --tls``.

``bulkhead certs`` writes them under ``.bulkhead/secrets/tls/`` (keys 0600):

- the platform CA, which signs the two HTTPS server certificates clients meet: the registry's
  (MLflow) and the serve zone's ingress. Clients verify against it, so one without it is
  refused.
- one CA per zone for Ray's mutual TLS, which signs that zone's certificate (server and client
  at once). Each cluster trusts only its own zone's CA, so a certificate stolen from the serve
  zone opens no TLS connection to the train cluster, on top of the per-zone Ray token.

Every certificate's subject alternative names cover each address the service can have here
(loopback, the platform host, its ``--isolate`` namespace address).

In production, certificates come from the cluster's issuer (cert-manager, ACM Private CA); the
layout of files and environment variables stays the same.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import BaseModel, ConfigDict, Field

from bulkhead.platform.isolation import ZONE_NODES, IsolationLayout, Node
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.secrets import ensure_secret_dir, write_secret
from bulkhead.platform.settings import PlatformSettings, Zone

VALIDITY_DAYS = 365
HTTPS_SERVICES = ("registry", "serve-https")


class ServiceCertificate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    cert: Path
    key: Path
    sans: tuple[str, ...]
    not_after: str


class TlsFiles(BaseModel):
    """Where the CAs and each certificate live; what ``certs --json`` prints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_cert: Path = Field(description="Platform CA: verifies the registry and Serve HTTPS.")
    services: dict[str, ServiceCertificate] = Field(description="HTTPS server certificates.")
    ray: dict[str, ServiceCertificate] = Field(description="Per zone, for Ray's mutual TLS.")
    ray_ca: dict[str, Path] = Field(description="Per zone, the only CA its cluster trusts.")

    @property
    def registry(self) -> ServiceCertificate:
        return self.services["registry"]

    @property
    def serve_https(self) -> ServiceCertificate:
        return self.services["serve-https"]

    def for_zone(self, zone: Zone) -> ServiceCertificate:
        return self.ray[zone.value]

    def zone_ca(self, zone: Zone) -> Path:
        return self.ray_ca[zone.value]


def tls_dir(paths: StatePaths) -> Path:
    return paths.secrets / "tls"


def service_addresses(settings: PlatformSettings, paths: StatePaths, service: str) -> list[str]:
    """Every address ``service`` can be reached at on this machine, isolated or not."""
    layout = IsolationLayout.for_platform(
        str(paths.home), settings.registry_port, settings.isolation_subnet
    )
    if service == "registry":
        node, own = Node.REGISTRY, settings.registry_address
    else:
        zone = Zone(service.removesuffix("-https"))
        node, own = ZONE_NODES[zone], settings.zone_host(zone)
    return sorted({"127.0.0.1", settings.host, own, layout.address_of(node)})


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bulkhead local platform"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca(label: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    name = _name(label[:64])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _service_cert(
    name: str,
    addresses: list[str],
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(name)]
    sans += [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"bulkhead-{name}"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # Ray's mutual TLS presents the same certificate as server and as client.
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _describe(name: str, cert_file: Path, key_file: Path) -> ServiceCertificate:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ServiceCertificate(
        name=name,
        cert=cert_file,
        key=key_file,
        sans=tuple(str(value.value) for value in sans),
        not_after=cert.not_valid_after_utc.isoformat(),
    )


def _all_names() -> list[str]:
    return [*HTTPS_SERVICES, *(f"ray-{zone.value}" for zone in Zone)]


def files(paths: StatePaths) -> TlsFiles:
    """The certificate files as they are on disk (``ensure`` creates them)."""
    folder = tls_dir(paths)

    def describe(name: str) -> ServiceCertificate:
        return _describe(name, folder / f"{name}.pem", folder / f"{name}-key.pem")

    return TlsFiles(
        ca_cert=folder / "ca.pem",
        services={name: describe(name) for name in HTTPS_SERVICES},
        ray={zone.value: describe(f"ray-{zone.value}") for zone in Zone},
        ray_ca={zone.value: folder / f"ray-{zone.value}-ca.pem" for zone in Zone},
    )


def exist(paths: StatePaths) -> bool:
    folder = tls_dir(paths)
    cas = ["ca", *(f"ray-{zone.value}-ca" for zone in Zone)]
    return all((folder / f"{name}.pem").exists() for name in [*cas, *_all_names()])


def _owner_only(folder: Path) -> None:
    """Certificates an earlier version wrote 0644 made owner-only (a link is left alone:
    nothing but the operator writes this 0700 folder, and the audit names a link)."""
    for path in folder.glob("*.pem"):
        if not path.is_symlink() and path.stat().st_mode & 0o077:
            path.chmod(0o600)  # the operator's own 0700 folder: no zone can plant a link


def _write_pair(
    folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    write_secret(folder / f"{name}-key.pem", _pem_key(key))
    # A certificate is public, but it lies in the operator's secrets folder, where
    # `check-isolation` holds every file owner-only; nobody else reads it there (each
    # service gets its own copy).
    write_secret(folder / f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM).decode())


def ensure(settings: PlatformSettings, paths: StatePaths, force: bool = False) -> TlsFiles:
    """Create the CA and service certificates unless they exist (or ``force``)."""
    folder = tls_dir(paths)
    if exist(paths) and not force:
        _owner_only(folder)
        return files(paths)
    shutil.rmtree(folder, ignore_errors=True)  # never a mix of old and new certificates
    ensure_secret_dir(paths.secrets)
    ensure_secret_dir(folder)
    ca_cert, ca_key = _ca(f"Bulkhead CA ({paths.home})")
    _write_pair(folder, "ca", ca_cert, ca_key)
    for name in HTTPS_SERVICES:
        addresses = service_addresses(settings, paths, name)
        _write_pair(folder, name, *_service_cert(name, addresses, ca_cert, ca_key))
    for zone in Zone:
        zone_ca, zone_key = _ca(f"Bulkhead {zone.value} zone Ray CA ({paths.home})")
        _write_pair(folder, f"ray-{zone.value}-ca", zone_ca, zone_key)
        addresses = service_addresses(settings, paths, zone.value)
        cert = _service_cert(f"ray-{zone.value}", addresses, zone_ca, zone_key)
        _write_pair(folder, f"ray-{zone.value}", *cert)
    return files(paths)
