"""AkiDB(prefer_grpc=True): the data path over gRPC ($AKIDB_GRPC_URL), the rest over REST."""

from __future__ import annotations

import os
import uuid
from typing import Iterator, Optional

import numpy as np
import pytest

from akidb import AkiDB, Filter, Match, SearchRequest, errors


@pytest.fixture
def gclient(url: str, api_key: Optional[str]) -> Iterator[AkiDB]:
    grpc_url = os.environ.get("AKIDB_GRPC_URL")
    assert grpc_url, "AKIDB_GRPC_URL is not set: run the suite through crates/akidb-server/tests/python_client.rs"
    c = AkiDB(url, api_key=api_key, prefer_grpc=True, grpc_url=grpc_url)
    yield c
    c.close()


def test_grpc_data_path(gclient: AkiDB, client: AkiDB, name: str) -> None:
    assert gclient._grpc is not None
    c = gclient.create_collection(name, dimension=4, metric="l2", index={"m": 8})
    assert (c.name, c.dimension, c.metric, c.points, c.index.m) == (name, 4, "l2", 0, 8)
    assert name in [x.name for x in gclient.list_collections()]
    vecs = np.random.default_rng(5).standard_normal((40, 4)).astype(np.float32)
    payloads = [{"section": "faq" if i % 2 else "guide", "i": i} for i in range(40)]
    assert gclient.upload(name, ids=np.arange(40), vectors=vecs, payloads=payloads, batch_size=16, parallel=2) == 40
    assert gclient.upsert(name, [{"id": "s1", "vector": [1.0, 2.0, 3.0, 4.0], "payload": {"k": "v"}}]) == 1
    assert gclient.get_collection(name).points == 41
    assert client.count(name) == 41  # the REST view agrees

    p = gclient.get_point(name, "s1")
    assert (p.id, p.vector, p.payload) == ("s1", [1.0, 2.0, 3.0, 4.0], {"k": "v"})
    hits = gclient.search(name, vector=vecs[3], k=3)
    assert hits[0].id == 3 and hits[0].payload == payloads[3]
    rest_hits = client.search(name, vector=vecs[3], k=3)
    assert [(h.id, h.payload) for h in hits] == [(h.id, h.payload) for h in rest_hits]
    assert [h.score for h in hits] == pytest.approx([h.score for h in rest_hits])
    faq = gclient.search(name, vector=vecs[3], k=40, filter=Filter(must=[Match("section", "faq")]))
    assert len(faq) == 20
    bare = gclient.search(name, vector=list(map(float, vecs[4])), k=1, with_payload=False, with_vector=True, exact=True, ef=32)
    assert bare[0].payload is None and bare[0].vector is not None and len(bare[0].vector) == 4
    batch = gclient.search_batch(name, [SearchRequest(vecs[1], k=1), {"vector": vecs[2], "k": 2}])
    assert [len(r) for r in batch] == [1, 2] and batch[0][0].id == 1
    recs = gclient.get_points(name, [2, "s1", 999], with_vector=True)
    assert [r.id for r in recs] == [2, "s1"] and recs[1].payload == {"k": "v"} and recs[1].vector is not None
    assert gclient.get_points(name, [2], with_payload=False)[0].payload is None
    assert gclient.count(name, filter=Filter(must=[Match("section", "guide")]), exact=True) == 20

    # REST-only calls still work on a prefer_grpc client.
    assert gclient.set_payload(name, {"x": 1}, ids=[1]) == 1
    assert gclient.scroll(name, limit=2).next_offset == 1

    assert gclient.delete_point(name, "s1") == 1
    assert gclient.delete_points(name, [0, 1]) == 2
    assert gclient.delete_points(name, filter=Filter(must=[Match("section", "faq")])) == 19
    assert gclient.count(name) == 19
    assert gclient.delete_collection(name).deleted


def test_grpc_errors(gclient: AkiDB, url: str, name: str) -> None:
    with pytest.raises(errors.CollectionNotFound) as e:
        gclient.get_collection("py-" + uuid.uuid4().hex[:8])
    assert e.value.code == "collection_not_found" and e.value.status == 404
    gclient.create_collection(name, dimension=3)
    with pytest.raises(errors.DimensionMismatch) as d:
        gclient.search(name, vector=[1.0, 2.0], k=1)
    assert d.value.code == "dimension_mismatch"
    with pytest.raises(errors.CollectionAlreadyExists):
        gclient.create_collection(name, dimension=3)
    with pytest.raises(errors.InvalidK):
        gclient.search(name, vector=[1.0, 2.0, 3.0], k=0)
    grpc_url = os.environ["AKIDB_GRPC_URL"]
    if os.environ.get("AKIDB_API_KEY"):
        bad = AkiDB(url, api_key="wrong", prefer_grpc=True, grpc_url=grpc_url)
        with pytest.raises(errors.Unauthorized):
            bad.list_collections()
    dead = AkiDB(url, prefer_grpc=True, grpc_url="http://127.0.0.1:1", timeout=2)
    with pytest.raises(errors.TransportError):
        dead.list_collections()
