"""AkiDB Python client: ``from akidb import AkiDB``."""

from . import errors
from ._core import ROUTES
from .client import AkiDB, AsyncAkiDB
from .filters import Filter, HasId, IsEmpty, IsNull, Match, MatchAny, Range, Text
from .models import (
    Alias,
    Collection,
    CollectionDeleted,
    CompactionReport,
    CreateAlias,
    DeleteAlias,
    DlqEntry,
    DlqFailure,
    DlqRetryReport,
    Hit,
    IndexParams,
    OrderBy,
    Point,
    PointStruct,
    Record,
    RenameAlias,
    ScrollPage,
    SearchRequest,
    Snapshot,
    TextIndex,
    TierPolicy,
    TierState,
)

__version__ = "0.1.0"

__all__ = [
    "AkiDB",
    "AsyncAkiDB",
    "ROUTES",
    "errors",
    "Filter",
    "HasId",
    "IsEmpty",
    "IsNull",
    "Match",
    "MatchAny",
    "Range",
    "Text",
    "Alias",
    "CreateAlias",
    "DeleteAlias",
    "RenameAlias",
    "OrderBy",
    "Collection",
    "CollectionDeleted",
    "CompactionReport",
    "DlqEntry",
    "DlqFailure",
    "DlqRetryReport",
    "Hit",
    "IndexParams",
    "Point",
    "PointStruct",
    "Record",
    "ScrollPage",
    "SearchRequest",
    "Snapshot",
    "TextIndex",
    "TierPolicy",
    "TierState",
]
