"""Optional gRPC transport (``AkiDB(url, prefer_grpc=True)``) over the published
``akidb.v1`` proto; stubs generated into :mod:`akidb.v1` (scripts/gen_grpc.sh).

It carries the data path — collections, upsert/upload, point reads and deletes,
count, search and batch search; the client sends every other call over REST.
Needs ``grpcio`` (``pip install akidb[grpc]``).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union
from urllib.parse import urlparse

import numpy as np
import orjson

from . import errors
from .filters import FilterLike, filter_json
from .models import (
    Collection,
    CollectionDeleted,
    Hit,
    Ids,
    IndexParams,
    Point,
    PointId,
    Record,
    SearchRequest,
    TextIndex,
    ids_json,
)

T = TypeVar("T")

_HTTP_OF_GRPC = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 413,
    "INTERNAL": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
}


def grpc_target(url: str, port: Optional[int]) -> Tuple[str, bool]:
    """``host:port`` of the gRPC listener and whether it is TLS: the host of ``url`` with
    ``port`` (when given, for a REST url) or the url's own port (a gRPC url, default 9090)."""
    u = urlparse(url if "//" in url else "http://" + url)
    if port is None:
        port = u.port or 9090
    return f"{u.hostname or '127.0.0.1'}:{port}", u.scheme == "https"


def _pid(i: Any) -> Any:
    pb = _pb()
    if isinstance(i, str):
        return pb.PointId(str=i)
    return pb.PointId(num=int(i))


def _id_of(p: Any) -> PointId:
    kind = p.WhichOneof("kind")
    return str(p.str) if kind == "str" else int(p.num)


def _payload(s: Optional[str]) -> Optional[Any]:
    if s is None or s == "" or s == "null":
        return None if s is None else {}
    return orjson.loads(s)


def _vector(v: Any) -> List[float]:
    if isinstance(v, np.ndarray):
        return [float(x) for x in np.asarray(v, dtype=np.float32).reshape(-1).tolist()]
    return [float(x) for x in v]


def _pb() -> Any:
    return importlib.import_module("akidb.v1.akidb_pb2")


def _collection(c: Any) -> Collection:
    return Collection(
        name=c.name,
        dimension=c.dimension,
        metric=c.metric,
        index=IndexParams(c.index.m, c.index.ef_construction, c.index.ef_search, None),
        points=c.points,
        tier=c.tier,
        status=c.status or "green",
        reason=c.reason or None,
        text_index=TextIndex.from_json(orjson.loads(c.text_index_json)) if c.text_index_json else None,
    )


def _hit(h: Any, with_payload: bool) -> Hit:
    payload = _payload(h.payload_json) if h.HasField("payload_json") else None
    return Hit(_id_of(h.id), float(h.score), payload, list(h.vector) if h.has_vector else None)


class GrpcTransport:
    """Blocking gRPC calls; errors become the same exceptions as over REST."""

    def __init__(self, target: str, tls: bool, api_key: Optional[str], timeout: float) -> None:
        self._grpc = importlib.import_module("grpc")
        stubs = importlib.import_module("akidb.v1.akidb_pb2_grpc")
        opts = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
        if tls:
            self._channel = self._grpc.secure_channel(target, self._grpc.ssl_channel_credentials(), options=opts)
        else:
            self._channel = self._grpc.insecure_channel(target, options=opts)
        self._collections = stubs.CollectionsStub(self._channel)
        self._points = stubs.PointsStub(self._channel)
        self._metadata: List[Tuple[str, str]] = [("authorization", f"Bearer {api_key}")] if api_key else []
        self._timeout = timeout
        self.target = target

    def close(self) -> None:
        self._channel.close()

    def _call(self, rpc: Callable[..., Any], request: Any) -> Any:
        try:
            return rpc(request, timeout=self._timeout, metadata=self._metadata)
        except self._grpc.RpcError as e:
            raise self._error(e) from e

    def _error(self, e: Any) -> errors.AkiDBError:
        code = None
        for k, v in e.trailing_metadata() or ():
            if k == "akidb-error-code":
                code = v
        name = e.code().name
        if code is None and name in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN"):
            return errors.TransportError(f"gRPC {self.target}: {name}: {e.details()}")
        return errors.error_for(_HTTP_OF_GRPC.get(name, 500), code, e.details() or name)

    # ---------------------------------------------------------------- collections

    def create_collection(
        self,
        name: str,
        dimension: int,
        metric: str,
        index: Optional[Union[IndexParams, Mapping[str, Any]]],
        text_index: Optional[Union[TextIndex, Mapping[str, Any]]],
    ) -> Collection:
        pb = _pb()
        ip = index if isinstance(index, IndexParams) else IndexParams(**dict(index or {}))
        req = pb.CreateCollectionRequest(
            name=name,
            dimension=int(dimension),
            metric=metric,
            index=pb.IndexParams(m=ip.m or 0, ef_construction=ip.ef_construction or 0, ef_search=ip.ef_search or 0),
        )
        if text_index is not None:
            ti = text_index.to_json() if isinstance(text_index, TextIndex) else dict(text_index)
            req.text_index_json = orjson.dumps(ti).decode()
        return _collection(self._call(self._collections.Create, req))

    def list_collections(self) -> List[Collection]:
        r = self._call(self._collections.List, _pb().ListCollectionsRequest())
        return [_collection(c) for c in r.collections]

    def get_collection(self, name: str) -> Collection:
        return _collection(self._call(self._collections.Get, _pb().CollectionName(name=name)))

    def delete_collection(self, name: str) -> CollectionDeleted:
        r = self._call(self._collections.Delete, _pb().CollectionName(name=name))
        return CollectionDeleted(r.name, r.deleted)

    # ---------------------------------------------------------------- points

    def upsert_rows(
        self, collection: str, ids: Ids, vectors: Any, payloads: Optional[Sequence[Any]], lo: int, hi: int
    ) -> int:
        pb = _pb()
        rows = vectors[lo:hi].tolist() if isinstance(vectors, np.ndarray) else [_vector(v) for v in vectors[lo:hi]]
        pts = []
        for j, i in enumerate(range(lo, hi)):
            p = pb.Point(id=_pid(ids[i]), vector=rows[j])
            if payloads is not None and payloads[i] is not None:
                p.payload_json = orjson.dumps(payloads[i], option=orjson.OPT_SERIALIZE_NUMPY).decode()
            pts.append(p)
        return int(self._call(self._points.Upsert, pb.UpsertRequest(collection=collection, points=pts)).upserted)

    def get_point(self, collection: str, point_id: PointId) -> Point:
        p = self._call(self._points.Get, _pb().PointRequest(collection=collection, id=_pid(point_id)))
        return Point(_id_of(p.id), list(p.vector), _payload(p.payload_json) or {})

    def delete_point(self, collection: str, point_id: PointId) -> int:
        r = self._call(self._points.Delete, _pb().PointRequest(collection=collection, id=_pid(point_id)))
        return int(r.deleted)

    def delete_points(self, collection: str, ids: Optional[Ids], filter: Optional[FilterLike]) -> int:
        if (ids is None) == (filter is None):
            raise ValueError("give exactly one of ids= or filter=")
        req = _pb().DeleteManyRequest(collection=collection)
        if ids is not None:
            req.ids.extend(_pid(i) for i in ids_json(ids))
        else:
            req.filter_json = orjson.dumps(filter_json(filter)).decode()
        return int(self._call(self._points.DeleteMany, req).deleted)

    def get_points(self, collection: str, ids: Ids, with_payload: bool, with_vector: bool) -> List[Record]:
        req = _pb().GetManyRequest(
            collection=collection, ids=[_pid(i) for i in ids_json(ids)], with_payload=with_payload, with_vector=with_vector
        )
        out = []
        for r in self._call(self._points.GetMany, req).points:
            payload = _payload(r.payload_json) if r.HasField("payload_json") else None
            out.append(Record(_id_of(r.id), payload, list(r.vector) if r.has_vector else None))
        return out

    def count(self, collection: str, filter: Optional[FilterLike], exact: Optional[bool]) -> int:
        req = _pb().CountRequest(collection=collection)
        if filter is not None:
            req.filter_json = orjson.dumps(filter_json(filter)).decode()
        if exact is not None:
            req.exact = exact
        return int(self._call(self._points.Count, req).count)

    # ---------------------------------------------------------------- search

    def _search_request(self, collection: str, s: SearchRequest) -> Any:
        req = _pb().SearchRequest(
            collection=collection,
            vector=_vector(s.vector),
            k=s.k,
            exact=s.exact,
            with_payload=s.with_payload,
            with_vector=s.with_vector,
        )
        f = filter_json(s.filter)
        if f is not None:
            req.filter_json = orjson.dumps(f).decode()
        if s.ef is not None:
            req.ef = s.ef
        return req

    def search(self, collection: str, s: SearchRequest) -> List[Hit]:
        r = self._call(self._points.Search, self._search_request(collection, s))
        return [_hit(h, s.with_payload) for h in r.hits]

    def search_batch(self, collection: str, searches: Sequence[SearchRequest]) -> List[List[Hit]]:
        req = _pb().SearchBatchRequest(
            collection=collection, searches=[self._search_request(collection, s) for s in searches]
        )
        r = self._call(self._points.SearchBatch, req)
        return [[_hit(h, s.with_payload) for h in res.hits] for res, s in zip(r.results, searches)]
