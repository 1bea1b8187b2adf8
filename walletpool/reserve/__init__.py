"""The reserve: the outage lane. Wallets the database holds back and Redis never sees,
the breaker that decides when to use them, and rebalance, which keeps them at size."""
