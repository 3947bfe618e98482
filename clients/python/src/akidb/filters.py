"""Builders for AkiDB's filter language (Qdrant-shaped JSON, see docs/api.md).

>>> Filter(must=[Match("section", "faq"), Range("year", gte=2020)]).to_json()
{'must': [{'key': 'section', 'match': {'value': 'faq'}}, {'key': 'year', 'range': {'gte': 2020}}]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Union

JsonDict = Dict[str, Any]
PointIdLike = Union[int, str]
Scalar = Union[str, int, float, bool]


class Condition:
    """One filter condition."""

    def to_json(self) -> JsonDict:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Match(Condition):
    """``{"key": key, "match": {"value": value}}``: the payload value at ``key`` equals ``value``."""

    key: str
    value: Scalar

    def to_json(self) -> JsonDict:
        return {"key": self.key, "match": {"value": self.value}}


@dataclass(frozen=True)
class MatchAny(Condition):
    """``{"key": key, "match": {"any": [...]}}``: the value at ``key`` is one of ``any``."""

    key: str
    any: Sequence[Scalar]

    def to_json(self) -> JsonDict:
        return {"key": self.key, "match": {"any": list(self.any)}}


@dataclass(frozen=True)
class Range(Condition):
    """``{"key": key, "range": {...}}`` with any of ``gt``, ``gte``, ``lt``, ``lte``."""

    key: str
    gt: Optional[float] = None
    gte: Optional[float] = None
    lt: Optional[float] = None
    lte: Optional[float] = None

    def to_json(self) -> JsonDict:
        bounds = {
            name: v
            for name, v in (("gt", self.gt), ("gte", self.gte), ("lt", self.lt), ("lte", self.lte))
            if v is not None
        }
        return {"key": self.key, "range": bounds}


@dataclass(frozen=True)
class HasId(Condition):
    """``{"has_id": [...]}``: the point's id is one of ``ids``."""

    ids: Sequence[PointIdLike]

    def to_json(self) -> JsonDict:
        return {"has_id": list(self.ids)}


@dataclass(frozen=True)
class IsNull(Condition):
    """``{"is_null": {"key": key}}``."""

    key: str

    def to_json(self) -> JsonDict:
        return {"is_null": {"key": self.key}}


@dataclass(frozen=True)
class IsEmpty(Condition):
    """``{"is_empty": {"key": key}}``."""

    key: str

    def to_json(self) -> JsonDict:
        return {"is_empty": {"key": self.key}}


@dataclass(frozen=True)
class Text(Condition):
    """``{"text": {"key": key, "query": query}}``: full-text match, every word of ``query``
    in the text at ``key`` (the collection's text index key)."""

    key: str
    query: str

    def to_json(self) -> JsonDict:
        return {"text": {"key": self.key, "query": self.query}}


ConditionLike = Union[Condition, "Filter", Mapping[str, Any]]


def _cond_json(c: ConditionLike) -> Any:
    if isinstance(c, (Condition, Filter)):
        return c.to_json()
    return dict(c)


@dataclass(frozen=True)
class Filter(Condition):
    """``{"must": [...], "should": [...], "must_not": [...]}``; filters nest as conditions."""

    must: Sequence[ConditionLike] = field(default_factory=list)
    should: Sequence[ConditionLike] = field(default_factory=list)
    must_not: Sequence[ConditionLike] = field(default_factory=list)

    def to_json(self) -> JsonDict:
        out: JsonDict = {}
        for name, conds in (("must", self.must), ("should", self.should), ("must_not", self.must_not)):
            if conds:
                out[name] = [_cond_json(c) for c in conds]
        return out


FilterLike = Union[Filter, Mapping[str, Any]]


def filter_json(f: Optional[FilterLike]) -> Optional[JsonDict]:
    """The JSON of a filter given as a :class:`Filter` or as a plain dict."""
    if f is None:
        return None
    if isinstance(f, Filter):
        return f.to_json()
    return dict(f)
