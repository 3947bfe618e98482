"""Transport-independent request building shared by the sync and async clients.

Every REST route is described by a function returning a :class:`Call`: the HTTP
method, the path, the encoded JSON body and how to read the answer. :data:`ROUTES`
maps each route of the server's OpenAPI document to the client method serving it
(a test checks it against ``/api/v1/openapi.json``).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)
from urllib.parse import quote

import numpy as np
import orjson

from . import errors
from .filters import FilterLike, filter_json
from .models import (
    Alias,
    AliasAction,
    Collection,
    CollectionDeleted,
    CompactionReport,
    DlqEntry,
    DlqRetryReport,
    Hit,
    IndexParams,
    Ids,
    JsonDict,
    OrderBy,
    Point,
    PointId,
    PointStruct,
    Record,
    ScrollPage,
    SearchRequest,
    Handover,
    Snapshot,
    TextIndex,
    TierPolicy,
    TierState,
    ids_json,
)

T = TypeVar("T")

#: (HTTP method, OpenAPI path) → name of the client method serving that route.
ROUTES: Dict[Tuple[str, str], str] = {
    ("GET", "/health"): "health",
    ("GET", "/ready"): "ready",
    ("GET", "/metrics"): "metrics",
    ("GET", "/api/v1/openapi.json"): "openapi",
    ("POST", "/api/v1/collections"): "create_collection",
    ("GET", "/api/v1/collections"): "list_collections",
    ("GET", "/api/v1/collections/{name}"): "get_collection",
    ("DELETE", "/api/v1/collections/{name}"): "delete_collection",
    ("PUT", "/api/v1/collections/{name}/points"): "upsert",
    ("GET", "/api/v1/collections/{name}/points/{id}"): "get_point",
    ("DELETE", "/api/v1/collections/{name}/points/{id}"): "delete_point",
    ("POST", "/api/v1/collections/{name}/points/delete"): "delete_points",
    ("POST", "/api/v1/collections/{name}/points/get"): "get_points",
    ("POST", "/api/v1/collections/{name}/points/scroll"): "scroll",
    ("POST", "/api/v1/collections/{name}/points/count"): "count",
    ("POST", "/api/v1/collections/{name}/points/payload"): "set_payload",
    ("PUT", "/api/v1/collections/{name}/points/payload"): "overwrite_payload",
    ("POST", "/api/v1/collections/{name}/points/payload/delete"): "delete_payload",
    ("POST", "/api/v1/collections/{name}/search"): "search",
    ("POST", "/api/v1/collections/{name}/search/batch"): "search_batch",
    ("GET", "/api/v1/admin/collections/{name}/tier"): "get_tier",
    ("POST", "/api/v1/admin/collections/{name}/promote"): "promote",
    ("POST", "/api/v1/admin/collections/{name}/demote"): "demote",
    ("POST", "/api/v1/admin/collections/{name}/pin"): "pin",
    ("POST", "/api/v1/admin/collections/{name}/unpin"): "unpin",
    ("POST", "/api/v1/admin/collections/{name}/compact"): "compact",
    ("POST", "/api/v1/admin/collections/{name}/snapshot"): "create_snapshot",
    ("GET", "/api/v1/admin/collections/{name}/snapshots"): "list_snapshots",
    ("POST", "/api/v1/admin/collections/{name}/restore"): "restore",
    ("POST", "/api/v1/admin/collections/{name}/handover"): "handover",
    ("GET", "/api/v1/admin/dlq"): "list_dlq",
    ("POST", "/api/v1/admin/dlq/retry-all"): "retry_dlq",
    ("POST", "/api/v1/aliases"): "update_aliases",
    ("GET", "/api/v1/aliases"): "list_aliases",
    ("GET", "/api/v1/collections/{name}/aliases"): "collection_aliases",
}

_JSON_OPTS = orjson.OPT_SERIALIZE_NUMPY


@dataclass
class Call(Generic[T]):
    """One HTTP request and how to read its answer."""

    method: str
    route: str
    path: str
    body: Optional[bytes]
    parse: Callable[[Any], T]
    #: Statuses other than 2xx whose body is still an answer (``/ready`` → 503).
    accept: Tuple[int, ...] = ()
    #: The answer is text, not JSON.
    text: bool = False


def encode(body: Any) -> bytes:
    """JSON bytes; NumPy arrays and scalars are serialized natively (no per-element conversion)."""
    return orjson.dumps(body, option=_JSON_OPTS)


def vector_json(v: Any) -> Any:
    """A vector ready for :func:`encode`: NumPy input becomes a contiguous float32 array."""
    if isinstance(v, np.ndarray):
        if v.dtype != np.float32 or not v.flags.c_contiguous:
            v = np.ascontiguousarray(v, dtype=np.float32)
        if v.ndim != 1:
            v = v.reshape(-1)
        return v
    return v


def matrix(vectors: Any) -> Any:
    """Vectors as a C-contiguous 2-D float32 array when given as NumPy, else as a list."""
    if isinstance(vectors, np.ndarray):
        a = np.ascontiguousarray(vectors, dtype=np.float32)
        if a.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array, got shape {a.shape}")
        return a
    return list(vectors)


def _seg(name: str) -> str:
    return quote(name, safe="")


def _id_seg(point_id: PointId) -> str:
    if isinstance(point_id, (int, np.integer)):
        return str(int(point_id))
    return quote(str(point_id), safe="")


def _col(name: str) -> str:
    return f"/api/v1/collections/{_seg(name)}"


def _admin(name: str) -> str:
    return f"/api/v1/admin/collections/{_seg(name)}"


def _ident(x: Any) -> Any:
    return x


def _is_ok(d: Any) -> bool:
    return isinstance(d, dict) and d.get("status") in ("ok", "ready")


def _selector(body: JsonDict, ids: Optional[Ids], filter: Optional[FilterLike]) -> JsonDict:
    if (ids is None) == (filter is None):
        raise ValueError("give exactly one of ids= or filter=")
    if ids is not None:
        body["ids"] = ids_json(ids)
    else:
        body["filter"] = filter_json(filter)
    return body


# ---------------------------------------------------------------- operations


def health() -> Call[bool]:
    return Call("GET", "/health", "/health", None, _is_ok)


def ready() -> Call[bool]:
    return Call("GET", "/ready", "/ready", None, _is_ok, accept=(503,))


def metrics() -> Call[str]:
    return Call("GET", "/metrics", "/metrics", None, str, text=True)


def openapi() -> Call[JsonDict]:
    return Call("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", None, _ident)


# ---------------------------------------------------------------- collections


def create_collection(
    name: str,
    dimension: int,
    metric: str = "cosine",
    index: Optional[Union[IndexParams, Mapping[str, Any]]] = None,
    tier: Optional[Union[TierPolicy, Mapping[str, Any]]] = None,
    text_index: Optional[Union[TextIndex, Mapping[str, Any]]] = None,
) -> Call[Collection]:
    body: JsonDict = {"name": name, "dimension": int(dimension), "metric": metric}
    if text_index is not None:
        body["text_index"] = text_index.to_json() if isinstance(text_index, TextIndex) else dict(text_index)
    if index is not None:
        body["index"] = index.to_json() if isinstance(index, IndexParams) else dict(index)
    if tier is not None:
        body["tier"] = tier.to_json() if isinstance(tier, TierPolicy) else dict(tier)
    return Call("POST", "/api/v1/collections", "/api/v1/collections", encode(body), Collection.from_json)


def list_collections() -> Call[List[Collection]]:
    return Call(
        "GET",
        "/api/v1/collections",
        "/api/v1/collections",
        None,
        lambda d: [Collection.from_json(c) for c in d["collections"]],
    )


def get_collection(name: str) -> Call[Collection]:
    return Call("GET", "/api/v1/collections/{name}", _col(name), None, Collection.from_json)


def delete_collection(name: str) -> Call[CollectionDeleted]:
    return Call("DELETE", "/api/v1/collections/{name}", _col(name), None, CollectionDeleted.from_json)


# ---------------------------------------------------------------- points


def _upserted(d: Any) -> int:
    return int(d["upserted"])


def _deleted(d: Any) -> int:
    return int(d["deleted"])


def _updated(d: Any) -> int:
    return int(d["updated"])


def point_json(p: Union[PointStruct, Mapping[str, Any]]) -> JsonDict:
    if isinstance(p, PointStruct):
        d = p.to_json()
    else:
        d = dict(p)
    d["vector"] = vector_json(d["vector"])
    return d


def upsert(name: str, points: Sequence[Union[PointStruct, Mapping[str, Any]]]) -> Call[int]:
    body = {"points": [point_json(p) for p in points]}
    return upsert_raw(name, encode(body))


def upsert_raw(name: str, body: bytes) -> Call[int]:
    return Call("PUT", "/api/v1/collections/{name}/points", _col(name) + "/points", body, _upserted)


def batch_body(
    ids: Ids, vectors: Any, payloads: Optional[Sequence[Optional[Mapping[str, Any]]]], lo: int, hi: int
) -> bytes:
    """The encoded upsert body of rows ``lo..hi`` of an upload."""
    pts: List[JsonDict] = []
    for i in range(lo, hi):
        pid = ids[i]
        if isinstance(pid, np.generic):
            pid = pid.item()
        p: JsonDict = {"id": pid, "vector": vectors[i]}
        if payloads is not None and payloads[i] is not None:
            p["payload"] = payloads[i]
        pts.append(p)
    return encode({"points": pts})


def upload_ids(ids: Optional[Ids], n: int) -> Ids:
    if ids is None:
        return [uuid.uuid4().hex for _ in range(n)]
    if len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} vectors")
    return ids


def batches(n: int, batch_size: int) -> Iterator[Tuple[int, int]]:
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    for lo in range(0, n, batch_size):
        yield lo, min(n, lo + batch_size)


def get_point(name: str, point_id: PointId) -> Call[Point]:
    return Call(
        "GET", "/api/v1/collections/{name}/points/{id}", f"{_col(name)}/points/{_id_seg(point_id)}", None, Point.from_json
    )


def delete_point(name: str, point_id: PointId) -> Call[int]:
    return Call(
        "DELETE", "/api/v1/collections/{name}/points/{id}", f"{_col(name)}/points/{_id_seg(point_id)}", None, _deleted
    )


def delete_points(
    name: str, ids: Optional[Ids] = None, filter: Optional[FilterLike] = None
) -> Call[int]:
    body = _selector({}, ids, filter)
    return Call(
        "POST", "/api/v1/collections/{name}/points/delete", _col(name) + "/points/delete", encode(body), _deleted
    )


def get_points(
    name: str, ids: Ids, with_payload: bool = True, with_vector: bool = False
) -> Call[List[Record]]:
    body: JsonDict = {"ids": ids_json(ids)}
    if not with_payload:
        body["with_payload"] = False
    if with_vector:
        body["with_vector"] = True
    return Call(
        "POST",
        "/api/v1/collections/{name}/points/get",
        _col(name) + "/points/get",
        encode(body),
        lambda d: [Record.from_json(p) for p in d["points"]],
    )


def scroll(
    name: str,
    filter: Optional[FilterLike] = None,
    limit: Optional[int] = None,
    offset: Optional[Any] = None,
    with_payload: bool = True,
    with_vector: bool = False,
    order_by: Optional[Union[str, OrderBy]] = None,
) -> Call[ScrollPage]:
    body: JsonDict = {}
    if order_by is not None:
        body["order_by"] = order_by.to_json() if isinstance(order_by, OrderBy) else order_by
    if filter is not None:
        body["filter"] = filter_json(filter)
    if limit is not None:
        body["limit"] = int(limit)
    if offset is not None:
        body["offset"] = offset
    if not with_payload:
        body["with_payload"] = False
    if with_vector:
        body["with_vector"] = True
    return Call(
        "POST", "/api/v1/collections/{name}/points/scroll", _col(name) + "/points/scroll", encode(body), ScrollPage.from_json
    )


def count(name: str, filter: Optional[FilterLike] = None, exact: Optional[bool] = None) -> Call[int]:
    body: JsonDict = {}
    if filter is not None:
        body["filter"] = filter_json(filter)
    if exact is not None:
        body["exact"] = exact
    return Call(
        "POST",
        "/api/v1/collections/{name}/points/count",
        _col(name) + "/points/count",
        encode(body),
        lambda d: int(d["count"]),
    )


def set_payload(
    name: str,
    payload: Mapping[str, Any],
    ids: Optional[Ids] = None,
    filter: Optional[FilterLike] = None,
    *,
    overwrite: bool = False,
) -> Call[int]:
    body = _selector({"payload": dict(payload)}, ids, filter)
    return Call(
        "PUT" if overwrite else "POST",
        "/api/v1/collections/{name}/points/payload",
        _col(name) + "/points/payload",
        encode(body),
        _updated,
    )


def delete_payload(
    name: str, keys: Sequence[str], ids: Optional[Ids] = None, filter: Optional[FilterLike] = None
) -> Call[int]:
    body = _selector({"keys": list(keys)}, ids, filter)
    return Call(
        "POST",
        "/api/v1/collections/{name}/points/payload/delete",
        _col(name) + "/points/payload/delete",
        encode(body),
        _updated,
    )


# ---------------------------------------------------------------- search


def _hits(d: Any) -> List[Hit]:
    return [Hit.from_json(h) for h in d["hits"]]


def search(
    name: str,
    vector: Any,
    k: int = 10,
    filter: Optional[FilterLike] = None,
    ef: Optional[int] = None,
    exact: bool = False,
    with_payload: bool = True,
    with_vector: bool = False,
) -> Call[List[Hit]]:
    req = SearchRequest(vector_json(vector), k, filter, ef, exact, with_payload, with_vector)
    return Call(
        "POST", "/api/v1/collections/{name}/search", _col(name) + "/search", encode(req.to_json()), _hits
    )


def search_batch(name: str, searches: Sequence[Union[SearchRequest, Mapping[str, Any]]]) -> Call[List[List[Hit]]]:
    items: List[JsonDict] = []
    for s in searches:
        d = s.to_json() if isinstance(s, SearchRequest) else dict(s)
        d["vector"] = vector_json(d["vector"])
        if "filter" in d:
            d["filter"] = filter_json(d["filter"])
        items.append(d)
    return Call(
        "POST",
        "/api/v1/collections/{name}/search/batch",
        _col(name) + "/search/batch",
        encode({"searches": items}),
        lambda d: [_hits(r) for r in d["results"]],
    )


# ---------------------------------------------------------------- admin


def _tier_call(name: str, action: str, body: Optional[JsonDict] = None) -> Call[TierState]:
    return Call(
        "POST",
        "/api/v1/admin/collections/{name}/" + action,
        f"{_admin(name)}/{action}",
        None if body is None else encode(body),
        TierState.from_json,
    )


def get_tier(name: str) -> Call[TierState]:
    return Call("GET", "/api/v1/admin/collections/{name}/tier", _admin(name) + "/tier", None, TierState.from_json)


def promote(name: str) -> Call[TierState]:
    return _tier_call(name, "promote")


def demote(name: str, to: str = "warm") -> Call[TierState]:
    return _tier_call(name, "demote", {"to": to})


def pin(name: str) -> Call[TierState]:
    return _tier_call(name, "pin")


def unpin(name: str) -> Call[TierState]:
    return _tier_call(name, "unpin")


def compact(name: str) -> Call[CompactionReport]:
    return Call(
        "POST", "/api/v1/admin/collections/{name}/compact", _admin(name) + "/compact", None, CompactionReport.from_json
    )


def create_snapshot(name: str) -> Call[Snapshot]:
    return Call(
        "POST", "/api/v1/admin/collections/{name}/snapshot", _admin(name) + "/snapshot", None, Snapshot.from_json
    )


def list_snapshots(name: str) -> Call[List[Snapshot]]:
    return Call(
        "GET",
        "/api/v1/admin/collections/{name}/snapshots",
        _admin(name) + "/snapshots",
        None,
        lambda d: [Snapshot.from_json(s) for s in d["snapshots"]],
    )


def restore(name: str, snapshot_id: Optional[str] = None, verify_integrity: Optional[bool] = None) -> Call[Collection]:
    body: JsonDict = {}
    if snapshot_id is not None:
        body["snapshot_id"] = snapshot_id
    if verify_integrity is not None:
        body["verify_integrity"] = verify_integrity
    return Call(
        "POST", "/api/v1/admin/collections/{name}/restore", _admin(name) + "/restore", encode(body), Collection.from_json
    )


def handover(name: str, to: Optional[str] = None) -> Call[Handover]:
    body: JsonDict = {} if to is None else {"to": to}
    return Call(
        "POST", "/api/v1/admin/collections/{name}/handover", _admin(name) + "/handover", encode(body), Handover.from_json
    )


def list_dlq() -> Call[List[DlqEntry]]:
    return Call(
        "GET", "/api/v1/admin/dlq", "/api/v1/admin/dlq", None, lambda d: [DlqEntry.from_json(e) for e in d["entries"]]
    )


def retry_dlq() -> Call[DlqRetryReport]:
    return Call("POST", "/api/v1/admin/dlq/retry-all", "/api/v1/admin/dlq/retry-all", None, DlqRetryReport.from_json)


# ---------------------------------------------------------------- aliases


def _aliases(d: Any) -> List[Alias]:
    return [Alias.from_json(a) for a in d["aliases"]]


def update_aliases(actions: Sequence[Union[AliasAction, Mapping[str, Any]]]) -> Call[bool]:
    body = {"actions": [a if isinstance(a, Mapping) else a.to_json() for a in actions]}
    return Call("POST", "/api/v1/aliases", "/api/v1/aliases", encode(body), lambda d: bool(d["applied"]))


def list_aliases() -> Call[List[Alias]]:
    return Call("GET", "/api/v1/aliases", "/api/v1/aliases", None, _aliases)


def collection_aliases(name: str) -> Call[List[Alias]]:
    return Call("GET", "/api/v1/collections/{name}/aliases", _col(name) + "/aliases", None, _aliases)


# ---------------------------------------------------------------- answers and retries


def error_from(status: int, content: bytes, request_id: Optional[str]) -> errors.AkiDBError:
    code: Optional[str] = None
    message = content.decode("utf-8", "replace")[:500]
    try:
        d = orjson.loads(content)
        if isinstance(d, dict) and isinstance(d.get("error"), dict):
            code = d["error"].get("code")
            message = d["error"].get("message", message)
    except orjson.JSONDecodeError:
        pass
    return errors.error_for(status, code, message, request_id)


def finish(call: Call[T], status: int, content: bytes, request_id: Optional[str]) -> T:
    if 200 <= status < 300 or status in call.accept:
        if call.text:
            return call.parse(content.decode("utf-8"))
        return call.parse(orjson.loads(content))
    raise error_from(status, content, request_id)


def retryable(e: BaseException) -> bool:
    if isinstance(e, errors.TransportError):
        return True
    return isinstance(e, errors.Unavailable) and e.code in errors.RETRYABLE_CODES


def backoff(attempt: int, base: float = 0.1, cap: float = 5.0) -> float:
    """Exponential backoff with jitter: about base·2^attempt, at most cap seconds."""
    d: float = min(cap, base * (2**attempt))
    return d * (0.5 + random.random() / 2)


def auth_headers(api_key: Optional[str]) -> Dict[str, str]:
    h = {"Content-Type": "application/json"}
    if api_key:
        h["Authorization"] = f"Bearer {api_key}"
    return h
