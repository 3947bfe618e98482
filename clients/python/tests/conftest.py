"""Fixtures: the tests run against a real akidb server at $AKIDB_URL (key $AKIDB_API_KEY)."""

from __future__ import annotations

import os
import uuid
from typing import Iterator, Optional

import pytest

from akidb import AkiDB, errors


@pytest.fixture(scope="session")
def url() -> str:
    u = os.environ.get("AKIDB_URL")
    if not u:
        pytest.fail("AKIDB_URL is not set: run through `cargo test -p akidb-server --test python_client`")
    return u


@pytest.fixture(scope="session")
def api_key() -> Optional[str]:
    return os.environ.get("AKIDB_API_KEY") or None


@pytest.fixture(scope="session")
def client(url: str, api_key: Optional[str]) -> Iterator[AkiDB]:
    c = AkiDB(url, api_key=api_key, timeout=60)
    yield c
    c.close()


@pytest.fixture
def name(client: AkiDB) -> Iterator[str]:
    """A fresh collection name, deleted after the test."""
    n = "py-" + uuid.uuid4().hex[:12]
    yield n
    try:
        client.delete_collection(n)
    except errors.NotFound:
        pass
