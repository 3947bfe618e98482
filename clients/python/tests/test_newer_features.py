"""Aliases, scroll order_by and full-text filters (each test first checks that the server
documents the feature in its OpenAPI document, and fails when it does not)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Dict, Iterator, Optional

import pytest

from akidb import AkiDB, AsyncAkiDB, CreateAlias, DeleteAlias, Filter, Match, OrderBy, RenameAlias, Text, TextIndex, errors


@pytest.fixture(scope="module")
def doc(client: AkiDB) -> Dict[str, Any]:
    return client.openapi()


def _need(cond: bool, what: str) -> None:
    assert cond, f"the server's OpenAPI document has no {what}"


@pytest.fixture
def alias_names(client: AkiDB) -> Iterator[list[str]]:
    names = [f"py-al-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    yield names
    for a in names:
        try:
            client.delete_alias(a)
        except errors.AkiDBError:
            pass


def test_aliases(
    client: AkiDB, api_key: Optional[str], doc: Dict[str, Any], name: str, alias_names: list[str]
) -> None:
    _need("/api/v1/aliases" in doc["paths"], "aliases")
    a, b, c = alias_names
    client.create_collection(name, dimension=2, metric="l2")
    client.upsert(name, [{"id": 1, "vector": [0.0, 1.0]}])
    assert client.create_alias(a, name) is True
    assert (client.get_collection(a).name, client.count(a)) == (name, 1)
    assert [h.id for h in client.search(a, vector=[0.0, 1.0], k=1)] == [1]
    assert any(x.alias == a and x.collection == name for x in client.list_aliases())
    assert client.rename_alias(a, b)
    assert [x.alias for x in client.collection_aliases(name)] == [b]
    assert client.update_aliases([CreateAlias(c, name), DeleteAlias(b)])
    assert [x.alias for x in client.collection_aliases(name)] == [c]
    with pytest.raises(errors.AliasNotFound) as e:
        client.delete_alias(b)
    assert e.value.code == "alias_not_found"
    with pytest.raises(errors.AliasAlreadyExists):
        client.create_alias(c, name)
    with pytest.raises(errors.InvalidAliasName):
        client.create_alias("bad alias!", name)
    with pytest.raises(errors.CollectionNotFound):
        client.create_alias(a, "py-no-such-collection")
    with pytest.raises(errors.NotFound):
        client.rename_alias(a, b)

    async def run() -> None:
        async with AsyncAkiDB(client.url, api_key=api_key) as ac:
            assert await ac.create_alias(a, name)
            assert {x.alias for x in await ac.collection_aliases(name)} == {a, c}
            assert await ac.update_aliases([RenameAlias(a, b)])
            assert any(x.alias == b for x in await ac.list_aliases())
            assert await ac.delete_alias(b)

    asyncio.run(run())


def test_scroll_order_by(client: AkiDB, doc: Dict[str, Any], name: str) -> None:
    _need("order_by" in doc["components"]["schemas"]["ScrollBody"]["properties"], "scroll order_by")
    client.create_collection(name, dimension=2)
    client.upsert(name, [{"id": i, "vector": [1.0, float(i)], "payload": {"rank": (i * 7) % 10}} for i in range(10)])
    seen = []
    offset: Optional[Any] = None
    while True:
        page = client.scroll(name, limit=3, offset=offset, order_by=OrderBy("rank", "desc"))
        seen += [r.payload["rank"] for r in page.points if r.payload]
        if page.next_offset is None:
            break
        offset = page.next_offset
    assert seen == sorted(range(10), reverse=True)
    asc = client.scroll(name, limit=10, order_by="rank")
    assert [r.payload["rank"] for r in asc.points if r.payload] == list(range(10))
    with pytest.raises(errors.InvalidOrderBy):
        client.scroll(name, order_by=OrderBy("rank", "sideways"))


def test_text_filter(client: AkiDB, doc: Dict[str, Any], name: str) -> None:
    _need("text_index" in doc["components"]["schemas"]["CreateCollection"]["properties"], "full-text index")
    c = client.create_collection(name, dimension=2, text_index=TextIndex("body", stemmer="english"))
    assert c.text_index is not None and c.text_index.key == "body"
    client.upsert(
        name,
        [
            {"id": 1, "vector": [1.0, 0.0], "payload": {"body": "Vectors are stored in tiers", "s": "a"}},
            {"id": 2, "vector": [0.0, 1.0], "payload": {"body": "Searching graphs quickly", "s": "b"}},
            {"id": 3, "vector": [1.0, 1.0], "payload": {"body": "The graph is searched", "s": "a"}},
        ],
    )
    hits = client.search(name, vector=[1.0, 0.0], k=10, filter=Filter(must=[Text("body", "graph search")]))
    assert sorted(int(h.id) for h in hits) == [2, 3]
    both = Filter(must=[Text("body", "searched"), Match("s", "a")])
    assert client.count(name, filter=both) == 1
    assert client.get_collection(name).text_index is not None
