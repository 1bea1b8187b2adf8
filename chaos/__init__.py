"""The nemesis: walletpool's guarantees measured under random, overlapping faults.

`python -m chaos` (or `./scripts/chaos`) starts a primary, its replicas and a Sentinel
from the binaries the tests use, a PostgreSQL, `walletpool sync` and several worker
processes (sync and asyncio) that allocate and release on two pools, each recording
every operation with its invoke and completion times on the machine's monotonic clock
(a history). Meanwhile the nemesis kills, pauses, restarts and partitions (nemesis.py).
Afterwards the checker (checker.py) reads the histories and the database and gives its
verdict against the promises exactly as docs/guide/faults.md states them.

- topology.py: the processes, started and stopped by pid, on loopback only;
- worker.py: one worker process and its history;
- nemesis.py: the faults and their schedule;
- checker.py: the analysis and the verdict;
- __main__.py: the run.
"""
