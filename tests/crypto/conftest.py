"""Every crypto test gets its own keyring file and escrow key path under tmp_path."""

from __future__ import annotations

import pytest

from crypto import envelope, keys


@pytest.fixture(autouse=True)
def isolated_keys(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("CURBSIDE_ESCROW_PUBLIC_KEY", raising=False)
    settings.CURBSIDE_KEYRING = ""
    settings.CURBSIDE_KEYRING_FILE = str(tmp_path / "keyring.json")
    settings.CURBSIDE_KEYRING_AUTOCREATE = True
    settings.CURBSIDE_ESCROW_PUBLIC_KEY = ""
    settings.CURBSIDE_ESCROW_PUBLIC_KEY_FILE = str(tmp_path / "escrow_public.key")
    settings.CURBSIDE_ESCROW_AUTOCREATE = False
    keys.reset()
    envelope.cache_clear()
    yield tmp_path / "keyring.json"
    keys.reset()
    envelope.cache_clear()
