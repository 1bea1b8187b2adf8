"""Getting wallets into a pool, shared by `add` and `import_wallets` of both clients:
check each against the pool's network, keep an address to one pool of its chain
family, then run the add script in chunks. Each is a Program (see engine/operations.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import chains
from ..chains import wallets as wallet_form
from ..errors import (
    AddressTaken,
    InvalidAddress,
    InvalidInput,
    LayoutOutdated,
    PoolFull,
    PoolNotFound,
    WalletPoolError,
)
from ..keys import family_key
from ..models import AddResult, ImportReport, PoolStats, Rejected
from ..settings import Settings
from .calls import Call, Program, fields, identity, log, text
from .scripts import script


class PoolCalls(Protocol):
    """What intake needs of the call builder (engine/operations.Operations), named here
    so that intake does not import it back."""

    settings: Settings

    def keys(self, pool: str) -> tuple[str, ...]: ...
    def defaults(self, pool: str, network: str | None = None) -> tuple[str | int, ...]: ...
    def stats_or_none(self, pool: str) -> Call[PoolStats | None]: ...
    def lookup(self, pool: str, wallets_: Sequence[str]) -> Call[list[str]]: ...

CHUNK = 5_000
"""Wallets per script call: large imports run as several short scripts so that one
import never blocks Redis for long."""

Row = tuple[int, object, object]
"""(line or position, address, tag or None) as read from the input."""
ImportProgress = Callable[[str, int, int], None]
"""Called with a stage ('checking', 'writing'), the count done and the total."""


@dataclass
class Checked:
    wallets: list[str] = field(default_factory=list)
    """Canonical, each once, in input order."""
    lines: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def network_of(pool: str, stats: PoolStats | None) -> chains.Network:
    """The network a pool's wallets are checked for: its own, or for a pool that does
    not exist yet, the one its name implies (PoolNotFound when it implies none)."""
    name = (stats.network or chains.default_network(pool)) if stats is not None else \
        implied_network(pool)
    try:
        return chains.network(name)
    except LookupError as exc:
        raise InvalidInput(f"pool {pool}: {exc}") from None


def implied_network(pool: str) -> str:
    """The network an add to a pool that does not exist creates it on: the one its name
    implies (BTC, ETH, USDT-TRC20, ...). A name that implies none, which is what a typo
    looks like, would make a pool whose addresses nobody checks: refused, naming the
    command that creates the pool on purpose."""
    name = chains.default_network(pool)
    if name == "plain":
        raise PoolNotFound(
            f"pool {pool} does not exist, and its name implies no network to check its "
            f"addresses for (BTC, ETH, USDT-TRC20, ... do): a mistyped name? Create it "
            f"first with `walletpool configure {pool} --network NAME` (or "
            f"configure(\"{pool}\", network=...)); --network plain checks only the "
            "charset")
    return name


def canonical_wallet(pool: str, network: chains.Network, address: object,
                     tag: object = None) -> str:
    """One wallet in the form the pool stores (as `add` stores it), or InvalidAddress."""
    try:
        return wallet_form.canonical(network, address, tag)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidAddress(f"invalid address {_text(address, tag)!r} for pool {pool} "
                             f"({network.name}): it {exc}") from None


def check(network: chains.Network, rows: Iterable[Row],
          progress: Callable[[int], None] | None = None) -> Checked:
    out = Checked()
    seen: set[str] = set()
    for done, (line, address, tag) in enumerate(rows, start=1):
        try:
            wallet = wallet_form.canonical(network, address, tag)  # type: ignore[arg-type]
        except ValueError as exc:
            out.rejected.append(Rejected(line, _text(address, tag), str(exc)))
            continue
        if wallet in seen:
            out.duplicates += 1
        else:
            seen.add(wallet)
            out.wallets.append(wallet)
            out.lines.append(line)
            out.texts.append(_text(address, tag))
        if progress is not None and done % 1000 == 0:
            progress(done)
    return out


def _text(address: object, tag: object) -> str:
    shown = address if isinstance(address, str) else repr(address)
    return shown if tag is None else f"{shown},{tag}"


def rows_of(pool: str, items: Sequence[object]) -> list[Row]:
    """add()'s argument as rows: strings, or (address, tag) pairs in a tag pool."""
    if isinstance(items, (str, bytes)):
        raise InvalidAddress(f"addresses for pool {pool} must be a list of strings, not one string")
    rows: list[Row] = []
    for position, item in enumerate(items, start=1):
        if isinstance(item, tuple) and len(item) == 2:
            rows.append((position, item[0], item[1]))
        else:
            rows.append((position, item, None))
    return rows


def conflicts(ops: PoolCalls, pool: str, network: chains.Network,
              wallets: Sequence[str]) -> Program[dict[str, str]]:
    """Addresses among `wallets` that belong to another pool of the family."""
    family = chains.family_of(pool, network.name)
    taken: dict[str, str] = {}
    for chunk in _chunks(_addresses(wallets)):
        reply = yield _claim(ops, pool, family, "check", chunk)
        taken.update(reply.taken)
    return taken


def write(ops: PoolCalls, pool: str, network: chains.Network, stats: PoolStats | None,
          wallets: list[str], progress: Callable[[int], None] | None) -> Program[AddResult]:
    """Claim the wallets' addresses for `pool` in their family, then add them."""
    keys = ops.keys(pool)
    defaults = ops.defaults(pool, network.name)
    chunks = _chunks(wallets)
    if len(chunks) > 1:
        # Several scripts are not one atomic step: refuse up front what cannot fit.
        max_size = stats.max_size if stats else ops.settings.max_size
        in_service = stats.in_service if stats else 0
        if in_service + len(wallets) > max_size:
            raise _pool_full(pool, in_service, max_size, len(wallets), added=0)
    family = chains.family_of(pool, network.name)
    claimed: list[str] = []  # addresses this call was the first to claim
    for chunk in _chunks(_addresses(wallets)):
        reply = yield _claim(ops, pool, family, "claim", chunk)
        if reply.taken:
            yield from _unclaim(ops, pool, family, claimed)
            raise _taken(pool, family, reply.taken)
        claimed += reply.new
    added = duplicates = 0
    kept: set[str] = set()  # addresses of the wallets of the chunks added
    try:
        for chunk in chunks:
            reply = yield Call(script("add"), keys, (*defaults, *chunk), identity,
                               idempotent=True)
            status = text(reply[0])
            if status == "full":
                raise _pool_full(pool, int(reply[1]), int(reply[2]), int(reply[3]),
                                 added=added)
            if status == "network":
                raise InvalidInput(f"pool {pool} is now on network {text(reply[1])}, not "
                                   f"{network.name}: its network changed during the add; retry")
            kept.update(wallet_form.split(w)[0] for w in chunk)
            added += int(reply[1])
            duplicates += int(reply[2])
            if progress is not None:
                progress(added + duplicates)
    except (PoolFull, InvalidInput, LayoutOutdated):
        # Refused for sure: the addresses no added chunk used go back to the family. (Not
        # after BackendUnavailable: the add may have run with its reply lost.)
        yield from _unclaim(ops, pool, family, [a for a in claimed if a not in kept])
        raise
    if not chunks:  # an empty list still creates the pool, as one call would
        yield Call(script("add"), keys, defaults, identity, idempotent=True)
    return AddResult(added, duplicates)


def add(ops: PoolCalls, pool: str, items: Sequence[object],
        progress: Callable[[int], None] | None) -> Program[AddResult]:
    rows = rows_of(pool, items)
    stats = yield from _stats(ops, pool, "add")
    network = network_of(pool, stats)
    checked = check(network, rows)
    if checked.rejected:
        bad = checked.rejected[0]
        raise InvalidAddress(f"invalid address {bad.text!r} for pool {pool} ({network.name}): "
                             f"it {bad.reason} (item {bad.line})")
    taken = yield from conflicts(ops, pool, network, checked.wallets)
    if taken:
        raise _taken(pool, chains.family_of(pool, network.name), taken)
    result = yield from write(ops, pool, network, stats, checked.wallets, progress)
    return AddResult(result.added, result.duplicates + checked.duplicates)


def import_wallets(ops: PoolCalls, pool: str, rows: Sequence[Row], rejected: Sequence[Rejected],
                   dry_run: bool, progress: ImportProgress | None) -> Program[ImportReport]:
    """Check every row, then write the good ones (unless `dry_run`). `rejected` are rows
    the reader already refused (malformed lines)."""
    stats = yield from _stats(ops, pool, "import")
    network = network_of(pool, stats)
    total = len(rows)
    checked = check(network, rows, (lambda n: progress("checking", n, total)) if progress
                    else None)
    if progress is not None:
        progress("checking", total, total)
    taken = yield from conflicts(ops, pool, network, checked.wallets)
    family = chains.family_of(pool, network.name)
    keep = [i for i, w in enumerate(checked.wallets) if wallet_form.split(w)[0] not in taken]
    refused = list(rejected) + checked.rejected + [
        Rejected(checked.lines[i], checked.texts[i],
                 f"already belongs to pool {taken[wallet_form.split(w)[0]]} of chain family "
                 f"{family}: an address may serve only one pool of a family")
        for i, w in enumerate(checked.wallets) if wallet_form.split(w)[0] in taken]
    refused.sort(key=lambda r: r.line)
    wallets = [checked.wallets[i] for i in keep]
    read = total + len(rejected)
    if dry_run:
        states = yield from _states(ops, pool, wallets)
        known = sum(1 for s in states if s)
        return ImportReport(pool, network.name, read, len(wallets) - known,
                            checked.duplicates + known, refused, dry_run=True)
    if not wallets:
        return ImportReport(pool, network.name, read, 0, checked.duplicates, refused)
    result = yield from write(ops, pool, network, stats, wallets,
                              (lambda n: progress("writing", n, len(wallets))) if progress
                              else None)
    return ImportReport(pool, network.name, read, result.added,
                        checked.duplicates + result.duplicates, refused)


def _stats(ops: PoolCalls, pool: str, command: str) -> Program[PoolStats | None]:
    try:
        stats: PoolStats | None = yield ops.stats_or_none(pool)
    except LayoutOutdated as exc:
        raise exc.during(command) from None
    return stats


def _states(ops: PoolCalls, pool: str, wallets: list[str]) -> Program[list[str]]:
    states: list[str] = []
    for chunk in _chunks(wallets):
        reply = yield ops.lookup(pool, chunk)
        states += reply
    return states


@dataclass(frozen=True)
class Claimed:
    taken: dict[str, str]
    """Address -> the other pool of the family that holds it (nothing was claimed)."""
    new: list[str]
    """The addresses this claim was the first to claim for the pool."""


def _claim(ops: PoolCalls, pool: str, family: str, mode: str,
           addresses: list[str]) -> Call[Claimed]:
    def decode(reply: Any) -> Claimed:
        items = [text(v) for v in reply[1:]]
        if text(reply[0]) == "ok":
            return Claimed({}, items)
        return Claimed(dict(zip(items[::2], items[1::2], strict=True)), [])

    return Call(script("claim"), (family_key(ops.settings.prefix, family),),
                (pool, mode, *addresses), decode, idempotent=True)


def _unclaim(ops: PoolCalls, pool: str, family: str, addresses: list[str]) -> Program[None]:
    """Take back claims this add made and did not use. Best effort: when Redis fails
    meanwhile, the add's own error is what the caller needs; the claims stay (an
    address claimed for a pool that does not hold it blocks only the family's other
    pools)."""
    try:
        for chunk in _chunks(addresses):
            yield _claim(ops, pool, family, "unclaim", chunk)
    except WalletPoolError as exc:
        log.warning("claims of a refused add not taken back", extra=fields(
            pool=pool, family=family, addresses=len(addresses), error=str(exc)))


def _taken(pool: str, family: str, taken: dict[str, str]) -> AddressTaken:
    address, other = next(iter(taken.items()))
    more = f" ({len(taken) - 1} more addresses likewise)" if len(taken) > 1 else ""
    return AddressTaken(
        f"address {address} already belongs to pool {other}, and pools {other} and {pool} are "
        f"of one chain family ({family}): an address may serve only one pool of a family"
        f"{more}; nothing was added", pool=pool, address=address, other_pool=other,
        family=family)


def _addresses(wallets: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(wallet_form.split(w)[0] for w in wallets))


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def _pool_full(pool: str, in_service: int, max_size: int, would_add: int, added: int) -> PoolFull:
    log.warning("pool full", extra=fields(pool=pool, in_service=in_service, max_size=max_size,
                                           would_add=would_add, added=added))
    done = f"; {added} of this call's wallets were added before" if added else "; nothing was added"
    return PoolFull(
        f"pool {pool} holds {in_service} wallets in service and max_size is {max_size}: "
        f"{would_add} more do not fit{done}. Raise max_size with configure or retire wallets",
        pool=pool, in_service=in_service, max_size=max_size, would_add=would_add)
