"""TLS for `make run`: the certificate and key the settings name, or a self-signed pair
generated once under the data dir (for local HTTPS/WSS; browsers will warn). In production
a TLS-terminating load balancer usually does this instead (docs/gateway.md)."""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from livefold.settings import Settings


def tls_files(settings: Settings) -> tuple[Path, Path] | None:
    """(certificate, key) to serve with, or None for plain HTTP."""
    if settings.gateway_tls_cert is not None or settings.gateway_tls_key is not None:
        if settings.gateway_tls_cert is None or settings.gateway_tls_key is None:
            raise SystemExit(
                "gateway: set both LIVEFOLD_GATEWAY_TLS_CERT and LIVEFOLD_GATEWAY_TLS_KEY"
            )
        for path in (settings.gateway_tls_cert, settings.gateway_tls_key):
            if not path.is_file():
                raise SystemExit(f"gateway: TLS file {path} does not exist")
        return settings.gateway_tls_cert, settings.gateway_tls_key
    if settings.gateway_tls_self_signed:
        return self_signed(settings.data_dir / "gateway" / "tls", settings.host)
    return None


def self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    cert_path, key_path = directory / "gateway.crt", directory / "gateway.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "livefold local gateway")])
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for address in {host, "127.0.0.1"}:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            names.append(x509.DNSName(address))
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomically(key_path, key_bytes, 0o600)
    _write_atomically(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert_path, key_path


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Two gateways starting together each write a whole file; the last rename wins."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
