"""The async client against the real server (every route once)."""

from __future__ import annotations

import asyncio
from typing import Optional

import numpy as np

from akidb import AsyncAkiDB, Filter, Match, SearchRequest, errors


def test_async_client_covers_the_routes(url: str, api_key: Optional[str], name: str) -> None:
    async def run() -> None:
        async with AsyncAkiDB(url, api_key=api_key) as c:
            assert await c.health() and await c.ready()
            assert "akidb" in await c.metrics()
            assert "paths" in await c.openapi()
            col = await c.create_collection(name, dimension=4, metric="cosine")
            assert col.points == 0
            assert name in [x.name for x in await c.list_collections()]
            assert await c.collection_exists(name)
            vecs = np.random.default_rng(3).random((30, 4), dtype=np.float32)
            payloads = [{"section": "faq" if i % 2 else "guide", "i": i} for i in range(30)]
            assert await c.upload(name, ids=np.arange(30), vectors=vecs, payloads=payloads, batch_size=7, parallel=3) == 30
            assert await c.upsert(name, [{"id": "s1", "vector": [1.0, 0.0, 0.0, 0.0]}]) == 1
            assert (await c.get_collection(name)).points == 31
            assert (await c.get_point(name, "s1")).vector == [1.0, 0.0, 0.0, 0.0]
            hits = await c.search(name, vector=vecs[5], k=3, filter=Filter(must=[Match("section", "faq")]))
            assert hits[0].id == 5
            res = await c.search_batch(name, [SearchRequest(vecs[2], k=1), SearchRequest(vecs[3], k=1)])
            assert [r[0].id for r in res] == [2, 3]
            assert [r.id for r in await c.get_points(name, [1, 2])] == [1, 2]
            page = await c.scroll(name, limit=5)
            assert len(page.points) == 5 and page.next_offset == 4
            assert await c.count(name, filter=Filter(must=[Match("section", "faq")])) == 15
            assert await c.set_payload(name, {"x": 1}, ids=[1]) == 1
            assert await c.overwrite_payload(name, {"y": 2}, ids=[2]) == 1
            assert await c.delete_payload(name, ["x"], ids=[1]) == 1
            assert await c.delete_point(name, "s1") == 1
            assert await c.delete_points(name, filter=Filter(must=[Match("section", "guide")])) == 14
            assert (await c.get_tier(name)).tier == "hot"
            assert (await c.pin(name)).pinned
            assert not (await c.unpin(name)).pinned
            assert (await c.demote(name, "warm")).tier == "warm"
            assert (await c.promote(name)).tier == "hot"
            assert (await c.compact(name)).live_points == 16
            snap = await c.create_snapshot(name)
            assert snap.snapshot_id in [s.snapshot_id for s in await c.list_snapshots(name)]
            assert (await c.restore(name, snap.snapshot_id)).points == 16
            assert isinstance(await c.list_dlq(), list)
            assert (await c.retry_dlq()).failed == 0
            assert (await c.delete_collection(name)).deleted
            try:
                await c.get_collection(name)
                raise AssertionError("still there")
            except errors.CollectionNotFound as e:
                assert e.code == "collection_not_found"

    asyncio.run(run())
