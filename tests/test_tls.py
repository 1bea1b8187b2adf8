"""rediss:// (issue "safe across failover"): a throwaway CA signs the server's and a
client's certificate; walletpool talks TLS to a redis-server built with it, verifies
the server against the CA, presents the client certificate when the server demands
one, and refuses a server its CA did not sign."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BINARIES
from tests.tls import Certificates, make_ca, supports_tls, tls_server
from walletpool import BackendUnavailable, WalletPool
from walletpool.dev.redis_server import RedisServer, server_name


@pytest.fixture(scope="module")
def tls_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tls-probe")
    for binary in BINARIES:
        if supports_tls(binary, folder / server_name(binary)):
            return binary
    if os.environ.get("CI"):
        pytest.fail("no redis-server with TLS found (Debian's redis-server has it)")
    pytest.skip("no redis-server built with TLS here (install Debian's redis-server)")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(params=[False, True], ids=["server-cert", "client-cert-required"])
def tls(request: pytest.FixtureRequest, tls_binary: Path, certs: Certificates,
        tmp_path: Path) -> Iterator[tuple[RedisServer, int, bool]]:
    server, port = tls_server(tmp_path / "redis", tls_binary, certs, client_certs=request.param)
    yield server, port, request.param
    server.stop()


def test_a_pool_over_tls_verified_by_its_ca(tls: tuple[RedisServer, int, bool],
                                            certs: Certificates) -> None:
    _, port, client_certs = tls
    options: dict[str, Any] = {"tls_ca": str(certs.ca)}
    if client_certs:
        options.update(tls_cert=str(certs.client_cert), tls_key=str(certs.client_key))
    with WalletPool.from_url(f"rediss://127.0.0.1:{port}/0", **options) as pool:
        pool.configure("COIN", lease_ttl=60)
        pool.add("COIN", ["a0"])
        assert pool.release(pool.allocate("COIN", "o1")) == "free"
    if client_certs:  # the same without a client certificate: the server refuses it
        with WalletPool.from_url(f"rediss://127.0.0.1:{port}/0", tls_ca=str(certs.ca)) as pool, \
                pytest.raises(BackendUnavailable):
            pool.stats("COIN")


def test_a_server_the_ca_did_not_sign_is_refused(tls: tuple[RedisServer, int, bool],
                                                 tmp_path: Path) -> None:
    _, port, _ = tls
    other = make_ca(tmp_path / "other-ca", name="another-ca")
    with WalletPool.from_url(f"rediss://127.0.0.1:{port}/0", tls_ca=str(other.ca),
                             tls_cert=str(other.client_cert),
                             tls_key=str(other.client_key)) as pool, \
            pytest.raises(BackendUnavailable, match="certificate verify failed"):
        pool.stats("COIN")


def test_the_tls_files_come_from_the_environment() -> None:
    from walletpool import InvalidInput, Settings
    settings = Settings.from_env({"WALLETPOOL_TLS_CA": "/ca.pem", "WALLETPOOL_TLS_CERT": "/c.pem",
                                  "WALLETPOOL_TLS_KEY": "/k.pem"})
    assert (settings.tls_ca, settings.tls_cert, settings.tls_key) == ("/ca.pem", "/c.pem",
                                                                      "/k.pem")
    with pytest.raises(InvalidInput, match="tls_key"):
        Settings(tls_cert="/c.pem")
