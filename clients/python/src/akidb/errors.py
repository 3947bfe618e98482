"""Exceptions raised by the AkiDB client.

Every error answer of the server (``{"error":{"code","message"}}``) becomes an
:class:`AkiDBError` subclass chosen by its stable ``code``; the exception carries
``code``, ``status`` (HTTP status), ``message`` and ``request_id``.
"""

from __future__ import annotations

from typing import Dict, Optional, Type


class AkiDBError(Exception):
    """Base class of every error the client raises."""

    #: The server's stable snake_case error code ("" for client-side errors).
    code: str = ""

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        status: Optional[int] = None,
        request_id: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        if self.status is not None:
            return f"{self.code} ({self.status}): {self.message}"
        return self.message


class TransportError(AkiDBError):
    """The server could not be reached (connection refused, reset, timeout)."""

    code = "transport_error"


# 400
class BadRequest(AkiDBError):
    """400: the request was rejected as invalid."""

    code = "bad_request"


class InvalidJson(BadRequest):
    code = "invalid_json"


class InvalidCollectionName(BadRequest):
    code = "invalid_collection_name"


class InvalidDimension(BadRequest):
    code = "invalid_dimension"


class InvalidIndexParams(BadRequest):
    code = "invalid_index_params"


class InvalidDuration(BadRequest):
    code = "invalid_duration"


class DimensionMismatch(BadRequest):
    code = "dimension_mismatch"


class InvalidVector(BadRequest):
    code = "invalid_vector"


class InvalidId(BadRequest):
    code = "invalid_id"


class InvalidPayload(BadRequest):
    code = "invalid_payload"


class InvalidFilter(BadRequest):
    code = "invalid_filter"


class InvalidK(BadRequest):
    code = "invalid_k"


class InvalidLimit(BadRequest):
    code = "invalid_limit"


class InvalidOffset(BadRequest):
    code = "invalid_offset"


class InvalidRequest(BadRequest):
    code = "invalid_request"


class InvalidTier(BadRequest):
    code = "invalid_tier"


class InvalidOrderBy(BadRequest):
    code = "invalid_order_by"


class InvalidAliasName(BadRequest):
    code = "invalid_alias_name"


class AliasChain(BadRequest):
    code = "alias_chain"


# 401 / 403
class Unauthorized(AkiDBError):
    """401: missing or wrong API key."""

    code = "unauthorized"


class Forbidden(AkiDBError):
    """403: the read-only key was used for a write."""

    code = "forbidden"


# 404
class NotFound(AkiDBError):
    """404: something does not exist."""

    code = "not_found"


class CollectionNotFound(NotFound):
    code = "collection_not_found"


class PointNotFound(NotFound):
    code = "point_not_found"


class SnapshotNotFound(NotFound):
    code = "snapshot_not_found"


class RouteNotFound(NotFound):
    code = "route_not_found"


class AliasNotFound(NotFound):
    code = "alias_not_found"


class MethodNotAllowed(AkiDBError):
    code = "method_not_allowed"


# 409
class Conflict(AkiDBError):
    """409: the name is taken."""

    code = "conflict"


class CollectionAlreadyExists(Conflict):
    code = "collection_already_exists"


class AliasAlreadyExists(Conflict):
    code = "alias_already_exists"


class AliasConflict(Conflict):
    code = "alias_conflict"


# 413
class TooLarge(AkiDBError):
    """413: a payload, body or batch is over a limit."""

    code = "too_large"


class PayloadTooLarge(TooLarge):
    code = "payload_too_large"


class BatchTooLarge(TooLarge):
    code = "batch_too_large"


# 5xx
class ServerError(AkiDBError):
    """500: the server failed."""

    code = "internal"


class DataCorruption(ServerError):
    code = "data_corruption"


class IoError(ServerError):
    code = "io_error"


class Internal(ServerError):
    code = "internal"


class NotImplementedByServer(AkiDBError):
    """501: the running engine build lacks this admin operation."""

    code = "not_implemented"


class Unavailable(AkiDBError):
    """503: try again later (or repair, for ``collection_damaged``)."""

    code = "unavailable"


class NotReady(Unavailable):
    code = "not_ready"


class ObjectStoreUnavailable(Unavailable):
    code = "object_store_unavailable"


class CollectionDamaged(Unavailable):
    code = "collection_damaged"


class CollectionBusy(Unavailable):
    code = "collection_busy"


class InsufficientStorage(AkiDBError):
    code = "insufficient_storage"


_BY_CODE: Dict[str, Type[AkiDBError]] = {
    cls.code: cls
    for cls in [
        InvalidJson,
        InvalidCollectionName,
        InvalidDimension,
        InvalidIndexParams,
        InvalidDuration,
        DimensionMismatch,
        InvalidVector,
        InvalidId,
        InvalidPayload,
        InvalidFilter,
        InvalidK,
        InvalidLimit,
        InvalidOffset,
        InvalidRequest,
        InvalidTier,
        InvalidOrderBy,
        InvalidAliasName,
        AliasChain,
        Unauthorized,
        Forbidden,
        CollectionNotFound,
        PointNotFound,
        SnapshotNotFound,
        RouteNotFound,
        AliasNotFound,
        MethodNotAllowed,
        CollectionAlreadyExists,
        AliasAlreadyExists,
        AliasConflict,
        PayloadTooLarge,
        BatchTooLarge,
        DataCorruption,
        IoError,
        Internal,
        NotImplementedByServer,
        NotReady,
        ObjectStoreUnavailable,
        CollectionDamaged,
        CollectionBusy,
        InsufficientStorage,
    ]
}

_BY_STATUS: Dict[int, Type[AkiDBError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: TooLarge,
    500: ServerError,
    501: NotImplementedByServer,
    503: Unavailable,
    507: InsufficientStorage,
}

#: 503 codes worth retrying (``collection_damaged`` needs a repair, not a retry).
RETRYABLE_CODES = frozenset({"not_ready", "object_store_unavailable", "collection_busy", "unavailable"})


def error_for(
    status: int, code: Optional[str], message: str, request_id: Optional[str] = None
) -> AkiDBError:
    """The exception for an error answer."""
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status) or AkiDBError
    return cls(message, code=code or cls.code or f"http_{status}", status=status, request_id=request_id)
