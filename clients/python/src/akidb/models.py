"""Typed requests and answers of the AkiDB REST API (docs/api.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

from .filters import FilterLike, filter_json

import numpy.typing as npt

JsonDict = Dict[str, Any]
PointId = Union[int, str]
#: Point ids: a sequence of ints/strings, or a NumPy integer array.
Ids = Union[Sequence[PointId], npt.NDArray[Any]]
Payload = Dict[str, Any]
Vector = List[float]


def _opt_vector(v: Any) -> Optional[Vector]:
    return None if v is None else list(v)


# ---------------------------------------------------------------- requests


@dataclass
class IndexParams:
    """HNSW parameters (each optional; the server fills defaults)."""

    m: Optional[int] = None
    ef_construction: Optional[int] = None
    ef_search: Optional[int] = None
    kind: Optional[str] = None

    def to_json(self) -> JsonDict:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, d: JsonDict) -> "IndexParams":
        return cls(d.get("m"), d.get("ef_construction"), d.get("ef_search"), d.get("kind"))


@dataclass
class TierPolicy:
    """Per-collection tier overrides: ``hot_idle``/``warm_idle`` durations (e.g. ``"1h"``), ``pin``."""

    hot_idle: Optional[str] = None
    warm_idle: Optional[str] = None
    pin: Optional[bool] = None

    def to_json(self) -> JsonDict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class TextIndex:
    """Full-text index of a collection over the payload text at ``key``."""

    key: str
    tokenizer: Optional[str] = None
    lowercase: Optional[bool] = None
    stemmer: Optional[str] = None

    def to_json(self) -> JsonDict:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, d: JsonDict) -> "TextIndex":
        return cls(d["key"], d.get("tokenizer"), d.get("lowercase"), d.get("stemmer"))


@dataclass
class PointStruct:
    """A point to upsert."""

    id: PointId
    vector: Any
    payload: Optional[Payload] = None

    def to_json(self) -> JsonDict:
        d: JsonDict = {"id": self.id, "vector": self.vector}
        if self.payload is not None:
            d["payload"] = self.payload
        return d


@dataclass
class SearchRequest:
    """One search of a batch (``search_batch``)."""

    vector: Any
    k: int = 10
    filter: Optional[FilterLike] = None
    ef: Optional[int] = None
    exact: bool = False
    with_payload: bool = True
    with_vector: bool = False

    def to_json(self) -> JsonDict:
        d: JsonDict = {"vector": self.vector, "k": self.k}
        f = filter_json(self.filter)
        if f is not None:
            d["filter"] = f
        if self.ef is not None:
            d["ef"] = self.ef
        if self.exact:
            d["exact"] = True
        if not self.with_payload:
            d["with_payload"] = False
        if self.with_vector:
            d["with_vector"] = True
        return d


# ---------------------------------------------------------------- answers


@dataclass
class Collection:
    """A collection as described by the server."""

    name: str
    dimension: int
    metric: str
    index: IndexParams
    points: int
    tier: str
    status: str
    reason: Optional[str] = None
    text_index: Optional[TextIndex] = None

    @classmethod
    def from_json(cls, d: JsonDict) -> "Collection":
        return cls(
            name=d["name"],
            dimension=d["dimension"],
            metric=d["metric"],
            index=IndexParams.from_json(d.get("index") or {}),
            points=d["points"],
            tier=d["tier"],
            status=d.get("status", "green"),
            reason=d.get("reason"),
            text_index=TextIndex.from_json(d["text_index"]) if d.get("text_index") else None,
        )


@dataclass
class CollectionDeleted:
    name: str
    deleted: bool

    @classmethod
    def from_json(cls, d: JsonDict) -> "CollectionDeleted":
        return cls(d["name"], d["deleted"])


@dataclass
class Point:
    """A stored point (``GET …/points/{id}``)."""

    id: PointId
    vector: Vector
    payload: Payload

    @classmethod
    def from_json(cls, d: JsonDict) -> "Point":
        return cls(d["id"], list(d["vector"]), d.get("payload") or {})


@dataclass
class Record:
    """A point from get-many or scroll; ``payload``/``vector`` only when asked for."""

    id: PointId
    payload: Optional[Payload] = None
    vector: Optional[Vector] = None

    @classmethod
    def from_json(cls, d: JsonDict) -> "Record":
        return cls(d["id"], d.get("payload"), _opt_vector(d.get("vector")))


@dataclass
class Hit:
    """A search hit: ``score`` is a similarity (cosine, dot) or a distance (l2)."""

    id: PointId
    score: float
    payload: Optional[Payload] = None
    vector: Optional[Vector] = None

    @classmethod
    def from_json(cls, d: JsonDict) -> "Hit":
        return cls(d["id"], d["score"], d.get("payload"), _opt_vector(d.get("vector")))


@dataclass
class ScrollPage:
    """One page of a scroll; ``next_offset`` is None at the end (a point id, or with
    ``order_by`` an object ``{"value", "id"}``): pass it back as ``offset``."""

    points: List[Record]
    next_offset: Optional[Any]

    @classmethod
    def from_json(cls, d: JsonDict) -> "ScrollPage":
        return cls([Record.from_json(p) for p in d["points"]], d.get("next_offset"))


@dataclass
class TierState:
    name: str
    tier: str
    pinned: bool
    bytes_in_memory: int
    bytes_on_disk: int
    last_access: str

    @classmethod
    def from_json(cls, d: JsonDict) -> "TierState":
        return cls(
            d["name"], d["tier"], d["pinned"], d["bytes_in_memory"], d["bytes_on_disk"], d["last_access"]
        )


@dataclass
class CompactionReport:
    segments_before: int
    segments_after: int
    removed_points: int
    live_points: int

    @classmethod
    def from_json(cls, d: JsonDict) -> "CompactionReport":
        return cls(d["segments_before"], d["segments_after"], d["removed_points"], d["live_points"])


@dataclass
class Snapshot:
    snapshot_id: str
    lsn: int
    rows: int
    created_at: str
    bytes: int
    local: bool
    remote: bool

    @classmethod
    def from_json(cls, d: JsonDict) -> "Snapshot":
        return cls(d["snapshot_id"], d["lsn"], d["rows"], d["created_at"], d["bytes"], d["local"], d["remote"])


@dataclass
class Handover:
    """The answer of a handover: the collection's new writer and where it continues."""

    name: str
    writer: str
    epoch: int
    lsn: int

    @classmethod
    def from_json(cls, d: JsonDict) -> "Handover":
        return cls(d["name"], d["writer"], d["epoch"], d["lsn"])


@dataclass
class DlqEntry:
    id: str
    key: str
    local_path: str
    error: str
    attempts: int
    first_failed_at: str
    last_failed_at: str

    @classmethod
    def from_json(cls, d: JsonDict) -> "DlqEntry":
        return cls(
            d["id"], d["key"], d["local_path"], d["error"], d["attempts"], d["first_failed_at"], d["last_failed_at"]
        )


@dataclass
class DlqFailure:
    id: str
    error: str


@dataclass
class DlqRetryReport:
    succeeded: int
    failed: int
    remaining: int
    errors: List[DlqFailure] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: JsonDict) -> "DlqRetryReport":
        return cls(
            d["succeeded"],
            d["failed"],
            d["remaining"],
            [DlqFailure(e["id"], e["error"]) for e in d.get("errors", [])],
        )


def ids_json(ids: Ids) -> List[PointId]:
    """Ids as a JSON list (NumPy integers become Python ints)."""
    return [i if isinstance(i, (str, int)) else int(i) for i in ids]


@dataclass
class Alias:
    """An alias and the collection it resolves to."""

    alias: str
    collection: str

    @classmethod
    def from_json(cls, d: JsonDict) -> "Alias":
        return cls(d["alias"], d["collection"])


@dataclass
class CreateAlias:
    """Alias action: create ``alias`` for ``collection``."""

    alias: str
    collection: str

    def to_json(self) -> JsonDict:
        return {"create": {"alias": self.alias, "collection": self.collection}}


@dataclass
class DeleteAlias:
    """Alias action: remove ``alias``."""

    alias: str

    def to_json(self) -> JsonDict:
        return {"delete": {"alias": self.alias}}


@dataclass
class RenameAlias:
    """Alias action: rename ``old_alias`` to ``new_alias``."""

    old_alias: str
    new_alias: str

    def to_json(self) -> JsonDict:
        return {"rename": {"old_alias": self.old_alias, "new_alias": self.new_alias}}


AliasAction = Union[CreateAlias, DeleteAlias, RenameAlias]


@dataclass
class OrderBy:
    """Scroll order: by the payload value at ``key``, ``asc`` or ``desc``."""

    key: str
    direction: str = "asc"

    def to_json(self) -> JsonDict:
        return {"key": self.key, "direction": self.direction}
