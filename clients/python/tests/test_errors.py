"""Bad inputs become exceptions carrying the server's code."""

from __future__ import annotations

import socket
from typing import Optional

import numpy as np
import pytest

from akidb import AkiDB, AsyncAkiDB, errors


def test_dimension_mismatch(client: AkiDB, name: str) -> None:
    client.create_collection(name, dimension=4)
    with pytest.raises(errors.DimensionMismatch) as e:
        client.upload(name, ids=[1], vectors=np.ones((1, 3), dtype=np.float32))
    assert e.value.code == "dimension_mismatch" and e.value.status == 400
    assert isinstance(e.value, errors.BadRequest) and isinstance(e.value, errors.AkiDBError)
    assert "dimension_mismatch" in str(e.value)
    with pytest.raises(errors.DimensionMismatch):
        client.search(name, vector=[1.0, 2.0], k=1)


def test_missing_collection(client: AkiDB) -> None:
    for call in (
        lambda: client.get_collection("py-nope"),
        lambda: client.delete_collection("py-nope"),
        lambda: client.search("py-nope", vector=[1.0], k=1),
        lambda: client.get_tier("py-nope"),
        lambda: client.count("py-nope"),
    ):
        with pytest.raises(errors.CollectionNotFound) as e:
            call()
        assert e.value.code == "collection_not_found" and e.value.status == 404
        assert isinstance(e.value, errors.NotFound)
        assert e.value.request_id


def test_invalid_values(client: AkiDB, name: str) -> None:
    with pytest.raises(errors.InvalidCollectionName):
        client.create_collection("bad name!", dimension=3)
    with pytest.raises(errors.InvalidDimension):
        client.create_collection(name, dimension=0)
    with pytest.raises(errors.InvalidJson):
        client.create_collection(name, dimension=3, metric="hamming")
    client.create_collection(name, dimension=2)
    with pytest.raises(errors.InvalidK) as k:
        client.search(name, vector=[1.0, 0.0], k=0)
    assert k.value.code == "invalid_k"
    with pytest.raises(errors.InvalidLimit):
        client.scroll(name, limit=0)
    with pytest.raises(errors.InvalidOffset):
        client.scroll(name, offset=-1)
    with pytest.raises(errors.InvalidFilter):
        client.search(name, vector=[1.0, 0.0], filter={"must": [{"key": "a", "nonsense": 1}]})
    with pytest.raises(errors.InvalidVector):
        client.upsert(name, [{"id": 1, "vector": [1e39, 0.0]}])
    with pytest.raises(errors.InvalidId):
        client.upsert(name, [{"id": "", "vector": [1.0, 0.0]}])
    with pytest.raises(errors.InvalidPayload):
        client.upsert(name, [{"id": 1, "vector": [1.0, 0.0], "payload": [1, 2]}])
    with pytest.raises(errors.PayloadTooLarge) as big:
        client.upsert(name, [{"id": 1, "vector": [1.0, 0.0], "payload": {"x": "y" * 70_000}}])
    assert big.value.status == 413 and isinstance(big.value, errors.TooLarge)
    with pytest.raises(errors.BatchTooLarge):
        client.get_points(name, list(range(10_001)))
    with pytest.raises(ValueError):
        client.delete_points(name)
    with pytest.raises(ValueError):
        client.upload(name, ids=[1, 2], vectors=np.ones((3, 2), dtype=np.float32))


def test_wrong_api_key(url: str, api_key: Optional[str]) -> None:
    assert api_key is not None, "the suite runs against a server with an API key (AKIDB_API_KEY)"
    bad = AkiDB(url, api_key="wrong-key")
    with pytest.raises(errors.Unauthorized) as e:
        bad.list_collections()
    assert e.value.code == "unauthorized" and e.value.status == 401
    with pytest.raises(errors.Unauthorized):
        AkiDB(url).list_collections()
    # The open routes need no key.
    assert bad.health() and bad.ready() and "openapi" in bad.openapi()


def test_async_error(url: str, api_key: Optional[str]) -> None:
    import asyncio

    async def run() -> None:
        async with AsyncAkiDB(url, api_key=api_key) as c:
            with pytest.raises(errors.CollectionNotFound):
                await c.get_collection("py-nope")

    asyncio.run(run())


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_server() -> None:
    c = AkiDB(f"http://127.0.0.1:{_closed_port()}", timeout=2)
    with pytest.raises(errors.TransportError):
        c.health()
    with pytest.raises(errors.TransportError):
        c.upload("x", ids=[1], vectors=[[1.0]], max_retries=2)


def test_async_grpc_not_available() -> None:
    with pytest.raises(NotImplementedError):
        AsyncAkiDB("http://127.0.0.1:1", prefer_grpc=True)
