"""Key rotation across apps: a registry of everything wrapped under a keyring KEK.

crypto knows its own wrapped keys (room epoch keys, author keys). Other apps store keys
wrapped by crypto too (``physicians.User.personal_key`` under ``personal``) and register them
from their ``AppConfig.ready()``::

    from crypto.rotation import register_wrapped_keys

    register_wrapped_keys(
        "physicians.user.personal_key",
        purpose="personal",
        iter_fn=...,             # () -> iterable of items (rows) holding a wrapped key
        rewrap_fn=...,           # (item) -> bool: rewrapped under the active KEK and saved
        count_by_version_fn=..., # () -> {kek_version: count}
    )

``keys rewrap`` calls every ``rewrap_fn``; ``keys status`` and ``keys retire`` use
``count_by_version_fn``. Providers must be idempotent: rewrap may be interrupted and re-run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count

from crypto import aead
from crypto.envelope import author_key_aad, room_key_aad
from crypto.keys import keyring
from crypto.models import AuditEntry, AuthorKey, RoomKey


@dataclass(frozen=True)
class WrappedKeys:
    name: str
    purpose: str
    iter_fn: Callable[[], Iterable[Any]]
    rewrap_fn: Callable[[Any], bool]
    count_by_version_fn: Callable[[], dict[int, int]]


_registry: dict[str, WrappedKeys] = {}


def register_wrapped_keys(
    name: str,
    *,
    purpose: str,
    iter_fn: Callable[[], Iterable[Any]],
    rewrap_fn: Callable[[Any], bool],
    count_by_version_fn: Callable[[], dict[int, int]],
) -> None:
    """Register (or replace, by ``name``) a set of wrapped keys for rotation."""
    _registry[name] = WrappedKeys(name, purpose, iter_fn, rewrap_fn, count_by_version_fn)


def unregister_wrapped_keys(name: str) -> None:
    _registry.pop(name, None)


def registered() -> list[WrappedKeys]:
    return sorted(_registry.values(), key=lambda w: w.name)


def count_versions(wrapped_blobs: Iterable[bytes | memoryview | None]) -> dict[int, int]:
    """Helper for providers without a version column: count blobs by their wrap header."""
    counts: Counter[int] = Counter()
    for blob in wrapped_blobs:
        if blob is not None:
            counts[aead.wrapped_version(bytes(blob))] += 1
    return dict(counts)


def status() -> dict[tuple[str, str], dict[int, int]]:
    """{(purpose, name): {version: count}} for every registered provider."""
    return {(w.purpose, w.name): w.count_by_version_fn() for w in registered()}


def in_use(purpose: str, version: int) -> int:
    """How many keys (or signatures) still depend on ``purpose`` KEK ``version``."""
    return sum(w.count_by_version_fn().get(version, 0) for w in registered() if w.purpose == purpose)


def rewrap_all() -> dict[str, int]:
    """Rewrap everything not under the active KEK of its purpose; {name: rewrapped}."""
    return {w.name: sum(1 for item in w.iter_fn() if w.rewrap_fn(item)) for w in registered()}


def register_wrapped_field(
    name: str,
    *,
    model: Any,
    field: str,
    purpose: str,
    owner: Callable[[Any], str],
    rewrap: Callable[[str, bytes], bytes],
) -> None:
    """Register a model's nullable binary field holding keys wrapped under ``purpose``.

    ``owner(row)`` gives the string bound into the wrap (e.g. ``str(row.pk)``) and
    ``rewrap(owner, wrapped)`` returns the key wrapped under the active KEK (for personal
    keys: ``crypto.personal.rewrap_personal_key``). Rows are locked one at a time, so a
    rewrap can run next to live traffic. Works with any model: crypto never imports it.
    """

    def rows():
        return model.objects.exclude(**{f"{field}__isnull": True})

    def rewrap_fn(item: Any) -> bool:
        with transaction.atomic():
            row = model.objects.select_for_update().filter(pk=item.pk).first()
            blob = getattr(row, field) if row is not None else None
            if blob is None:  # erased meanwhile
                return False
            old = bytes(blob)
            if aead.wrapped_version(old) == keyring().active(purpose)[0]:
                return False
            setattr(row, field, rewrap(owner(row), old))
            row.save(update_fields=[field])
            return True

    register_wrapped_keys(
        name,
        purpose=purpose,
        iter_fn=lambda: rows().only("pk").iterator(),
        rewrap_fn=rewrap_fn,
        count_by_version_fn=lambda: count_versions(rows().values_list(field, flat=True).iterator()),
    )


# --- crypto's own wrapped keys ---------------------------------------------------------------


def _model_rewrapper(model, aad_fn: Callable[[Any], bytes], purpose: str):
    def iter_fn() -> Iterable[Any]:
        active, _ = keyring().active(purpose)
        return model.objects.exclude(kek_version=active).only("pk").iterator()

    def rewrap_fn(item: Any) -> bool:
        with transaction.atomic():
            row = model.objects.select_for_update().filter(pk=item.pk).first()
            if row is None:  # destroyed meanwhile
                return False
            wrapped = bytes(row.wrapped)
            old = aead.wrapped_version(wrapped)
            version, kek = keyring().active(purpose)
            if old == version:
                return False
            key = aead.unwrap_key(keyring().key(purpose, old), wrapped, aad_fn(row))
            row.wrapped = aead.wrap_key(kek, version, key, aad_fn(row))
            row.kek_version = version
            row.save(update_fields=["wrapped", "kek_version"])
            return True

    def count_fn() -> dict[int, int]:
        rows = model.objects.values("kek_version").annotate(n=Count("pk"))
        return {r["kek_version"]: r["n"] for r in rows}

    return iter_fn, rewrap_fn, count_fn


def register_builtin() -> None:
    """Called from CryptoConfig.ready()."""
    for name, model, aad_fn in (
        ("crypto.room_key", RoomKey, lambda r: room_key_aad(r.room_id, r.epoch)),
        ("crypto.author_key", AuthorKey, lambda r: author_key_aad(r.room_id, r.pseudonym)),
    ):
        iter_fn, rewrap_fn, count_fn = _model_rewrapper(model, aad_fn, "messages")
        register_wrapped_keys(
            name,
            purpose="messages",
            iter_fn=iter_fn,
            rewrap_fn=rewrap_fn,
            count_by_version_fn=count_fn,
        )

    # Audit signatures cannot be re-made without breaking the chain, so an audit key
    # version stays in the keyring while any entry was signed with it (retire refuses).
    def audit_counts() -> dict[int, int]:
        rows = AuditEntry.objects.values("key_version").annotate(n=Count("pk"))
        return {r["key_version"]: r["n"] for r in rows}

    register_wrapped_keys(
        "crypto.audit_signature",
        purpose="audit",
        iter_fn=lambda: (),
        rewrap_fn=lambda item: False,
        count_by_version_fn=audit_counts,
    )
