"""Per-room pseudonyms and their display handles.

``pseudonym_id`` is ``HMAC-SHA256(K_pseudonym, "pseudonym" 0x00 user_id 0x00 room_id)``
truncated to 16 bytes (32 hex characters). It is stable for one (user, room), differs
between rooms, and cannot be linked back to the user or across rooms without the keyring's
``pseudonym`` key; no table stores the user → pseudonym mapping in the clear (escrow keeps it
sealed to the escrow public key, see crypto/escrow.py).

Because it is deterministic, the ``pseudonym`` key is never rotated (``keys rotate`` refuses
it): a new key would give every member of every room a new identity.

``pseudonym_handle`` turns an id into something people can say ("Dr. Coral Jaguar · 7f3a"),
from two lists of 64 words chosen to read the same, or obviously, in English and Spanish.
"""

from __future__ import annotations

import hashlib
import hmac

from crypto.keys import keyring

PURPOSE = "pseudonym"
# 16 bytes: collisions inside one room are out of reach (birthday bound ~2^64 members).
PSEUDONYM_BYTES = 16

# Colours and adjectives (64: a byte modulo 64 picks one without bias).
ADJECTIVES = (
    "Amber", "Azure", "Beige", "Bronze", "Cobalt", "Coral", "Cyan", "Emerald",
    "Fuchsia", "Indigo", "Jade", "Lavender", "Lilac", "Magenta", "Ochre", "Olive",
    "Pearl", "Ruby", "Sapphire", "Scarlet", "Sepia", "Topaz", "Turquoise", "Violet",
    "Platinum", "Onyx", "Opal", "Carmine", "Granite", "Agile", "Astral", "Austral",
    "Boreal", "Brilliant", "Celestial", "Cordial", "Cosmic", "Curious", "Dynamic", "Elegant",
    "Ideal", "Intrepid", "Jovial", "Lucid", "Lunar", "Mystic", "Noble", "Placid",
    "Polar", "Prudent", "Radiant", "Rapid", "Regal", "Robust", "Serene", "Solar",
    "Splendid", "Stellar", "Sublime", "Tranquil", "Tropical", "Valiant", "Vibrant", "Vital",
)  # fmt: skip

# Animals and sky/landscape nouns (64).
NOUNS = (
    "Puma", "Jaguar", "Condor", "Falcon", "Panda", "Koala", "Lynx", "Tiger",
    "Lion", "Dolphin", "Orca", "Llama", "Alpaca", "Vicuna", "Tapir", "Coyote",
    "Ocelot", "Iguana", "Gorilla", "Zebra", "Giraffe", "Camel", "Cobra", "Gecko",
    "Chameleon", "Flamingo", "Pelican", "Toucan", "Quetzal", "Albatross", "Ibis", "Penguin",
    "Bison", "Buffalo", "Leopard", "Panther", "Elephant", "Antelope", "Gazelle", "Armadillo",
    "Capybara", "Chinchilla", "Marmot", "Lemur", "Kangaroo", "Nautilus", "Manta", "Salamander",
    "Dragon", "Phoenix", "Pegasus", "Centaur", "Comet", "Meteor", "Nebula", "Orion",
    "Atlas", "Galaxy", "Prism", "Crystal", "Volcano", "Canyon", "Glacier", "Aurora",
)  # fmt: skip


def pseudonym_id(*, user_id: str, room_id: str) -> str:
    """The member's pseudonym in ``room_id``: 32 lowercase hex characters."""
    _, key = keyring().active(PURPOSE)
    msg = b"pseudonym\x00" + user_id.encode() + b"\x00" + room_id.encode()
    return hmac.new(key, msg, hashlib.sha256).digest()[:PSEUDONYM_BYTES].hex()


def pseudonym_handle(pid: str) -> str:
    """A display handle for a pseudonym id, e.g. ``"Dr. Coral Jaguar · 7f3a"``.

    Raises:
        ValueError: ``pid`` is not at least 4 hex characters.
    """
    raw = bytes.fromhex(pid)
    if len(raw) < 2:
        raise ValueError("a pseudonym id has at least 2 bytes")
    adjective = ADJECTIVES[raw[0] % len(ADJECTIVES)]
    noun = NOUNS[raw[1] % len(NOUNS)]
    return f"Dr. {adjective} {noun} · {pid[-4:].lower()}"
