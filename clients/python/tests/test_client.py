"""Every route of the sync client against the real server."""

from __future__ import annotations

import numpy as np
import pytest

from akidb import (
    AkiDB,
    Filter,
    HasId,
    IsEmpty,
    IsNull,
    Match,
    MatchAny,
    PointStruct,
    Range,
    SearchRequest,
    errors,
)
from akidb.models import Collection, Hit, Record, TierState


def _fill(client: AkiDB, name: str, n: int = 50, dim: int = 8) -> np.ndarray:
    client.create_collection(name, dimension=dim, metric="l2")
    vecs = np.random.default_rng(1).standard_normal((n, dim)).astype(np.float32)
    payloads = [{"i": i, "section": ["faq", "guide", "api"][i % 3], "tags": [] if i % 5 == 0 else ["t"]} for i in range(n)]
    assert client.upload(name, ids=np.arange(n), vectors=vecs, payloads=payloads, batch_size=16) == n
    return vecs


def test_operations(client: AkiDB) -> None:
    assert client.health() is True
    assert client.ready() is True
    assert "akidb" in client.metrics()
    assert client.openapi()["openapi"].startswith("3")


def test_collections(client: AkiDB, name: str) -> None:
    c = client.create_collection(
        name, dimension=4, metric="dot", index={"m": 8, "ef_search": 32}, tier={"hot_idle": "1h", "pin": False}
    )
    assert isinstance(c, Collection)
    assert (c.name, c.dimension, c.metric, c.points, c.tier, c.status) == (name, 4, "dot", 0, "hot", "green")
    assert c.index.m == 8 and c.index.ef_search == 32
    assert name in [x.name for x in client.list_collections()]
    assert client.get_collection(name).dimension == 4
    assert client.collection_exists(name)
    with pytest.raises(errors.CollectionAlreadyExists) as e:
        client.create_collection(name, dimension=4)
    assert e.value.code == "collection_already_exists" and e.value.status == 409
    d = client.delete_collection(name)
    assert d.deleted and d.name == name
    assert not client.collection_exists(name)


def test_upsert_get_delete_points(client: AkiDB, name: str) -> None:
    client.create_collection(name, dimension=3, metric="l2")
    n = client.upsert(
        name,
        [
            PointStruct(1, [1.0, 0.0, 0.0], {"a": 1}),
            PointStruct("doc-x", np.array([0.0, 1.0, 0.0], dtype=np.float64)),
            {"id": 3, "vector": [0.0, 0.0, 1.0], "payload": {"a": 3}},
        ],
    )
    assert n == 3
    p = client.get_point(name, 1)
    assert p.id == 1 and p.vector == [1.0, 0.0, 0.0] and p.payload == {"a": 1}
    assert client.get_point(name, "doc-x").payload == {}
    recs = client.get_points(name, [3, "doc-x", 99], with_vector=True)
    assert [r.id for r in recs] == [3, "doc-x"]
    assert recs[0].vector == [0.0, 0.0, 1.0] and recs[0].payload == {"a": 3}
    bare = client.get_points(name, [1], with_payload=False)
    assert bare == [Record(1, None, None)]
    assert client.delete_point(name, "doc-x") == 1
    assert client.delete_point(name, "doc-x") == 0
    with pytest.raises(errors.PointNotFound) as e:
        client.get_point(name, "doc-x")
    assert e.value.code == "point_not_found" and isinstance(e.value, errors.NotFound)
    assert client.delete_points(name, [1, 3]) == 2
    assert client.count(name) == 0


def test_upload_lists_and_generated_ids(client: AkiDB, name: str) -> None:
    client.create_collection(name, dimension=2)
    assert client.upload(name, vectors=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], batch_size=2, parallel=2, progress=True) == 3
    recs = client.scroll_all(name)
    assert len(recs) == 3 and all(isinstance(r.id, str) for r in recs)


def test_search_and_filters(client: AkiDB, name: str) -> None:
    vecs = _fill(client, name)
    hits = client.search(name, vector=vecs[7], k=5)
    assert isinstance(hits[0], Hit) and hits[0].id == 7 and hits[0].score == pytest.approx(0.0, abs=1e-4)
    assert hits[0].payload is not None and hits[0].payload["i"] == 7
    assert [h.score for h in hits] == sorted(h.score for h in hits)  # l2: distance, lower first

    faq = client.search(name, vector=vecs[7], k=50, filter=Filter(must=[Match("section", "faq")]))
    assert faq and all(h.payload is not None and h.payload["section"] == "faq" for h in faq)
    assert len(faq) == 17

    f = Filter(
        must=[MatchAny("section", ["faq", "guide"]), Range("i", gte=10, lt=30)],
        must_not=[HasId([10, 11])],
    )
    got = sorted(int(h.id) for h in client.search(name, vector=vecs[0], k=50, filter=f))
    assert got == [i for i in range(12, 30) if i % 3 != 2]

    nested = Filter(should=[Filter(must=[Match("i", 1)]), Filter(must=[Match("i", 2)])])
    assert sorted(int(h.id) for h in client.search(name, vector=vecs[0], k=10, filter=nested)) == [1, 2]

    assert client.count(name, filter=Filter(must=[IsEmpty("tags")])) == 10
    client.set_payload(name, {"note": None}, ids=[4])
    assert client.count(name, filter=Filter(must=[IsNull("note")])) == 1
    as_dict = {"must": [{"key": "section", "match": {"value": "api"}}]}
    assert client.count(name, filter=as_dict, exact=True) == 16

    hv = client.search(name, vector=list(map(float, vecs[3])), k=1, exact=True, ef=128, with_payload=False, with_vector=True)
    assert hv[0].id == 3 and hv[0].payload is None and hv[0].vector is not None and len(hv[0].vector) == 8

    batch = client.search_batch(
        name,
        [SearchRequest(vecs[1], k=2), SearchRequest(vecs[2], k=3, filter=Filter(must=[Match("section", "api")]))],
    )
    assert [len(r) for r in batch] == [2, 3]
    assert batch[0][0].id == 1 and batch[1][0].id == 2


def test_scroll_count_and_payload_updates(client: AkiDB, name: str) -> None:
    _fill(client, name, n=25)
    page = client.scroll(name, limit=10)
    assert [r.id for r in page.points] == list(range(10)) and page.next_offset == 9
    page2 = client.scroll(name, limit=10, offset=page.next_offset, with_payload=False, with_vector=True)
    assert [r.id for r in page2.points] == list(range(10, 20))
    assert page2.points[0].payload is None and page2.points[0].vector is not None
    assert len(client.scroll_all(name, page_size=7)) == 25
    assert len(client.scroll_all(name, filter=Filter(must=[Match("section", "faq")]))) == 9
    assert client.count(name) == 25

    assert client.set_payload(name, {"flag": True}, ids=[0, 1, 999]) == 2
    assert client.get_point(name, 0).payload["flag"] is True
    assert client.get_point(name, 0).payload["i"] == 0
    assert client.set_payload(name, {"grp": "g"}, filter=Filter(must=[Match("section", "api")])) == 8
    assert client.count(name, filter=Filter(must=[Match("grp", "g")])) == 8
    assert client.delete_payload(name, ["flag", "tags"], ids=[0]) == 1
    assert "flag" not in client.get_point(name, 0).payload
    assert client.overwrite_payload(name, {"only": 1}, ids=[1]) == 1
    assert client.get_point(name, 1).payload == {"only": 1}
    assert client.delete_payload(name, ["grp"], filter=Filter(must=[Match("grp", "g")])) == 8
    assert client.delete_points(name, filter=Filter(must=[Match("section", "faq")])) == 9
    assert client.count(name) == 16
    with pytest.raises(ValueError):
        client.set_payload(name, {"x": 1})


def test_admin(client: AkiDB, name: str) -> None:
    _fill(client, name, n=20)
    t = client.get_tier(name)
    assert isinstance(t, TierState) and t.name == name and t.tier == "hot"
    assert client.pin(name).pinned is True
    assert client.unpin(name).pinned is False
    assert client.demote(name, "warm").tier == "warm"
    assert client.promote(name).tier == "hot"
    client.delete_points(name, [0, 1, 2])
    rep = client.compact(name)
    assert rep.live_points == 17
    snap = client.create_snapshot(name)
    assert snap.rows == 17 and snap.local
    snaps = client.list_snapshots(name)
    assert snap.snapshot_id in [s.snapshot_id for s in snaps]
    client.delete_points(name, [3, 4])
    restored = client.restore(name, snap.snapshot_id, verify_integrity=True)
    assert restored.name == name and restored.points == 17
    assert client.restore(name).points == 17
    assert isinstance(client.list_dlq(), list)
    r = client.retry_dlq()
    assert r.failed == 0 and r.remaining == len(client.list_dlq())
    with pytest.raises(errors.SnapshotNotFound):
        client.restore(name, "no-such-snapshot")
    with pytest.raises(errors.BadRequest) as e:
        client.demote(name, "lukewarm")
    assert e.value.code in ("invalid_tier", "invalid_request", "invalid_json")
