"""Files the servers and h2load need, made once per run in a temporary directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .workloads import DOWNLOAD_PATH, HELLO_PATH, ONE_MIB, UPLOAD_PATH

#: Hypercorn closes an HTTP/2 connection after 1,000 requests by default; h2load would
#: count the requests it had queued on it as failures.
HYPERCORN_TOML = "keep_alive_max_requests = 1000000000\n"


@dataclass(frozen=True)
class Fixtures:
    root: Path
    #: nghttpd's document root: the same three resources the Python servers answer.
    docroot: Path
    upload_file: Path
    hypercorn_config: Path
    logs: Path
    #: PEM certificate chain and PKCS#8 key for 127.0.0.1, or None without trustme.
    certfile: Path | None
    keyfile: Path | None
    tls_error: str | None


def make_fixtures(root: Path) -> Fixtures:
    docroot = root / "docroot"
    docroot.mkdir()
    (docroot / HELLO_PATH.lstrip("/")).write_bytes(b"Hello, world!")
    (docroot / DOWNLOAD_PATH.lstrip("/")).write_bytes(b"x" * ONE_MIB)
    (docroot / UPLOAD_PATH.lstrip("/")).write_bytes(b"7\n")
    upload_file = root / "upload.bin"
    upload_file.write_bytes(b"u" * ONE_MIB)
    hypercorn_config = root / "hypercorn.toml"
    hypercorn_config.write_text(HYPERCORN_TOML)
    logs = root / "logs"
    logs.mkdir()
    certfile = keyfile = None
    tls_error = None
    try:
        certfile, keyfile = _make_certificate(root)
    except ImportError as exc:
        tls_error = f"no TLS certificate: {exc}"
    return Fixtures(
        root, docroot, upload_file, hypercorn_config, logs, certfile, keyfile, tls_error
    )


def _make_certificate(root: Path) -> tuple[Path, Path]:
    import trustme
    from cryptography.hazmat.primitives import serialization

    cert = trustme.CA().issue_cert("127.0.0.1", "localhost")
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    certfile = root / "cert.pem"
    keyfile = root / "key.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    # Granian reads PKCS#8 keys only; the others read it too.
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile
