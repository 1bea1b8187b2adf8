"""Upgrading a database made by an older walletpool keeps its rows and adds what the
new version needs."""

from __future__ import annotations

import sqlalchemy as sa

from walletpool.store import schema
from walletpool.store.migrations import LATEST, MIGRATIONS, current_version, upgrade


def test_a_version_2_database_upgrades_to_the_latest_keeping_its_pools(store: sa.Engine) -> None:
    with store.begin() as conn:  # back to what version 2 left
        for table in reversed(schema.metadata.sorted_tables):
            table.drop(conn, checkfirst=True)
        schema.schema_version.create(conn)
        for version, migrate in enumerate(MIGRATIONS[:2], start=1):
            migrate(conn)
            conn.execute(schema.schema_version.insert().values(version=version))
        for index in ("walletpool_wallets_reserve", "walletpool_wallets_deadline"):
            conn.execute(sa.text(f"DROP INDEX {index}"))  # v2 had neither
        conn.execute(sa.text(
            "INSERT INTO walletpool_pools (name, lease_ttl_ms, cooldown_ms, max_size, "
            "max_uses, min_free, network) VALUES ('BTC', 900000, 0, 100, 0, 3, 'btc')"))
    assert upgrade(store) == list(range(3, LATEST + 1))
    with store.connect() as conn:
        assert current_version(conn) == LATEST
        row = conn.execute(sa.select(schema.pools)).mappings().one()
        assert (row["name"], row["min_free"], row["reserve"], row["reserve_token"]) == (
            "BTC", 3, None, 0)
        assert {"walletpool_wallets_reserve", "walletpool_wallets_deadline"} <= {
            i["name"] for i in sa.inspect(conn).get_indexes("walletpool_wallets")}
        assert sa.inspect(conn).has_table("walletpool_queued_releases")
    assert upgrade(store) == []
