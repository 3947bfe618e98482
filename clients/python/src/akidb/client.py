"""Synchronous (:class:`AkiDB`, on ``requests``) and asynchronous (:class:`AsyncAkiDB`,
on ``httpx``) clients of the AkiDB REST API."""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

import httpx
import requests
import requests.adapters

from . import _core, errors
from ._core import ROUTES, Call
from ._grpc import GrpcTransport, grpc_target
from .filters import FilterLike
from .models import (
    Alias,
    AliasAction,
    Collection,
    CollectionDeleted,
    CompactionReport,
    CreateAlias,
    DeleteAlias,
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
    RenameAlias,
    ScrollPage,
    SearchRequest,
    Handover,
    Snapshot,
    TextIndex,
    TierPolicy,
    TierState,
)

T = TypeVar("T")

PointLike = Union[PointStruct, Mapping[str, Any]]
SearchLike = Union[SearchRequest, Mapping[str, Any]]
Payloads = Optional[Sequence[Optional[Mapping[str, Any]]]]

__all__ = ["AkiDB", "AsyncAkiDB", "ROUTES"]


def _progress(total: int, enabled: bool) -> Any:
    """A tqdm bar when tqdm is installed and ``enabled``, else None."""
    if not enabled:
        return None
    try:
        tqdm = importlib.import_module("tqdm").tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="points", desc="upload")


class AkiDB:
    """Synchronous client.

    >>> client = AkiDB("http://localhost:8080", api_key=None)

    Every method raises an :class:`akidb.errors.AkiDBError` subclass carrying the
    server's ``code`` on an error answer, and :class:`akidb.errors.TransportError`
    when the server cannot be reached.
    """

    def __init__(
        self,
        url: str = "http://localhost:8080",
        api_key: Optional[str] = None,
        timeout: float = 30.0,
        *,
        pool_size: int = 16,
        prefer_grpc: bool = False,
        grpc_port: int = 9090,
        grpc_url: Optional[str] = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._grpc: Optional[GrpcTransport] = None
        if prefer_grpc:
            # Data-path calls go over gRPC (grpc_url, else the REST host on grpc_port);
            # the rest (scroll, payload updates, admin, aliases, operations) over REST.
            if grpc_url is not None:
                target, tls = grpc_target(grpc_url, None)
            else:
                target, tls = grpc_target(self.url, grpc_port)
            self._grpc = GrpcTransport(target, tls, api_key, timeout)
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(_core.auth_headers(api_key))

    def close(self) -> None:
        self._session.close()
        if self._grpc is not None:
            self._grpc.close()

    def __enter__(self) -> "AkiDB":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, call: Call[T]) -> T:
        try:
            r = self._session.request(call.method, self.url + call.path, data=call.body, timeout=self.timeout)
        except requests.RequestException as e:
            raise errors.TransportError(f"{call.method} {call.path}: {e}") from e
        return _core.finish(call, r.status_code, r.content, r.headers.get("x-request-id"))

    def _retrying(self, fn: Callable[[], T], max_retries: int) -> T:
        attempt = 0
        while True:
            try:
                return fn()
            except errors.AkiDBError as e:
                if attempt >= max_retries or not _core.retryable(e):
                    raise
                time.sleep(_core.backoff(attempt))
                attempt += 1

    # ---------------------------------------------------------------- operations

    def health(self) -> bool:
        """``GET /health``: True while the process runs."""
        return self._run(_core.health())

    def ready(self) -> bool:
        """``GET /ready``: True once recovery finished."""
        return self._run(_core.ready())

    def metrics(self) -> str:
        """``GET /metrics``: Prometheus text."""
        return self._run(_core.metrics())

    def openapi(self) -> JsonDict:
        """``GET /api/v1/openapi.json``: the OpenAPI document."""
        return self._run(_core.openapi())

    # ---------------------------------------------------------------- collections

    def create_collection(
        self,
        name: str,
        dimension: int,
        metric: str = "cosine",
        *,
        index: Optional[Union[IndexParams, Mapping[str, Any]]] = None,
        tier: Optional[Union[TierPolicy, Mapping[str, Any]]] = None,
        text_index: Optional[Union[TextIndex, Mapping[str, Any]]] = None,
    ) -> Collection:
        """``POST /api/v1/collections``."""
        if self._grpc is not None and tier is None:
            return self._grpc.create_collection(name, dimension, metric, index, text_index)
        return self._run(_core.create_collection(name, dimension, metric, index, tier, text_index))

    def list_collections(self) -> List[Collection]:
        if self._grpc is not None:
            return self._grpc.list_collections()
        return self._run(_core.list_collections())

    def get_collection(self, name: str) -> Collection:
        if self._grpc is not None:
            return self._grpc.get_collection(name)
        return self._run(_core.get_collection(name))

    def collection_exists(self, name: str) -> bool:
        try:
            self.get_collection(name)
            return True
        except errors.CollectionNotFound:
            return False

    def delete_collection(self, name: str) -> CollectionDeleted:
        if self._grpc is not None:
            return self._grpc.delete_collection(name)
        return self._run(_core.delete_collection(name))

    # ---------------------------------------------------------------- points

    def upsert(self, collection: str, points: Sequence[PointLike]) -> int:
        """``PUT …/points``: insert or replace points; answers the count once durable."""
        if self._grpc is not None:
            pts = [_core.point_json(p) for p in points]
            return self._grpc.upsert_rows(
                collection, [p["id"] for p in pts], [p["vector"] for p in pts], [p.get("payload") for p in pts], 0, len(pts)
            )
        return self._run(_core.upsert(collection, points))

    def upload(
        self,
        collection: str,
        ids: Optional[Ids] = None,
        vectors: Any = None,
        payloads: Payloads = None,
        batch_size: int = 1000,
        *,
        parallel: int = 1,
        max_retries: int = 5,
        progress: bool = False,
    ) -> int:
        """Upserts many points in batches of ``batch_size``; ``vectors`` is a 2-D NumPy
        array (sent as float32 without per-element conversion) or a list of lists.

        ``parallel`` batches are in flight at once; a batch answered 503 (not ready,
        busy, object store down) or hit by a connection error is retried up to
        ``max_retries`` times with exponential backoff. ``progress=True`` shows a tqdm
        bar when tqdm is installed. Returns the number of points written.
        """
        if vectors is None:
            raise ValueError("vectors= is required")
        vecs = _core.matrix(vectors)
        n = len(vecs)
        point_ids = _core.upload_ids(ids, n)
        if payloads is not None and len(payloads) != n:
            raise ValueError(f"{len(payloads)} payloads for {n} vectors")
        bar = _progress(n, progress)
        lock = threading.Lock()

        def encode(span: Tuple[int, int]) -> bytes:
            return _core.batch_body(point_ids, vecs, payloads, span[0], span[1])

        def send(span: Tuple[int, int], body: Optional[bytes]) -> int:
            lo, hi = span
            g = self._grpc
            if g is not None:
                done = self._retrying(lambda: g.upsert_rows(collection, point_ids, vecs, payloads, lo, hi), max_retries)
            else:
                call = _core.upsert_raw(collection, body if body is not None else encode(span))
                done = self._retrying(lambda: self._run(call), max_retries)
            if bar is not None:
                with lock:
                    bar.update(hi - lo)
            return done

        try:
            spans = list(_core.batches(n, batch_size))
            if parallel > 1:
                with ThreadPoolExecutor(max_workers=parallel) as pool:
                    return sum(pool.map(lambda sp: send(sp, None), spans))
            if self._grpc is not None or len(spans) < 2:
                return sum(send(sp, None) for sp in spans)
            # One batch in flight; the next one is encoded meanwhile (the socket wait
            # releases the GIL), so encoding does not add to the upload time.
            total = 0
            with ThreadPoolExecutor(max_workers=1) as encoder:
                pending = encoder.submit(encode, spans[0])
                for j, sp in enumerate(spans):
                    body = pending.result()
                    if j + 1 < len(spans):
                        pending = encoder.submit(encode, spans[j + 1])
                    total += send(sp, body)
            return total
        finally:
            if bar is not None:
                bar.close()

    def get_point(self, collection: str, id: PointId) -> Point:
        if self._grpc is not None:
            return self._grpc.get_point(collection, id)
        return self._run(_core.get_point(collection, id))

    def delete_point(self, collection: str, id: PointId) -> int:
        if self._grpc is not None:
            return self._grpc.delete_point(collection, id)
        return self._run(_core.delete_point(collection, id))

    def delete_points(
        self, collection: str, ids: Optional[Ids] = None, *, filter: Optional[FilterLike] = None
    ) -> int:
        """``POST …/points/delete`` by ids or by filter (exactly one)."""
        if self._grpc is not None:
            return self._grpc.delete_points(collection, ids, filter)
        return self._run(_core.delete_points(collection, ids, filter))

    def get_points(
        self, collection: str, ids: Ids, *, with_payload: bool = True, with_vector: bool = False
    ) -> List[Record]:
        if self._grpc is not None:
            return self._grpc.get_points(collection, ids, with_payload, with_vector)
        return self._run(_core.get_points(collection, ids, with_payload, with_vector))

    def scroll(
        self,
        collection: str,
        *,
        filter: Optional[FilterLike] = None,
        limit: Optional[int] = None,
        offset: Optional[Any] = None,
        with_payload: bool = True,
        with_vector: bool = False,
        order_by: Optional[Union[str, OrderBy]] = None,
    ) -> ScrollPage:
        """``POST …/points/scroll``: one page; pass ``next_offset`` back as ``offset``."""
        return self._run(_core.scroll(collection, filter, limit, offset, with_payload, with_vector, order_by))

    def scroll_all(
        self,
        collection: str,
        *,
        filter: Optional[FilterLike] = None,
        page_size: int = 256,
        with_payload: bool = True,
        with_vector: bool = False,
    ) -> List[Record]:
        """Every matching point, following ``next_offset`` until the end."""
        out: List[Record] = []
        offset: Optional[Any] = None
        while True:
            page = self.scroll(
                collection,
                filter=filter,
                limit=page_size,
                offset=offset,
                with_payload=with_payload,
                with_vector=with_vector,
            )
            out.extend(page.points)
            if page.next_offset is None:
                return out
            offset = page.next_offset

    def count(self, collection: str, *, filter: Optional[FilterLike] = None, exact: Optional[bool] = None) -> int:
        if self._grpc is not None:
            return self._grpc.count(collection, filter, exact)
        return self._run(_core.count(collection, filter, exact))

    def set_payload(
        self,
        collection: str,
        payload: Mapping[str, Any],
        ids: Optional[Ids] = None,
        *,
        filter: Optional[FilterLike] = None,
    ) -> int:
        """``POST …/points/payload``: sets these top-level keys, keeping the others."""
        return self._run(_core.set_payload(collection, payload, ids, filter))

    def overwrite_payload(
        self,
        collection: str,
        payload: Mapping[str, Any],
        ids: Optional[Ids] = None,
        *,
        filter: Optional[FilterLike] = None,
    ) -> int:
        """``PUT …/points/payload``: replaces each whole payload."""
        return self._run(_core.set_payload(collection, payload, ids, filter, overwrite=True))

    def delete_payload(
        self,
        collection: str,
        keys: Sequence[str],
        ids: Optional[Ids] = None,
        *,
        filter: Optional[FilterLike] = None,
    ) -> int:
        """``POST …/points/payload/delete``: removes these top-level keys."""
        return self._run(_core.delete_payload(collection, keys, ids, filter))

    # ---------------------------------------------------------------- search

    def search(
        self,
        collection: str,
        vector: Any,
        k: int = 10,
        filter: Optional[FilterLike] = None,
        *,
        ef: Optional[int] = None,
        exact: bool = False,
        with_payload: bool = True,
        with_vector: bool = False,
    ) -> List[Hit]:
        """``POST …/search``: the ``k`` nearest points, best first."""
        if self._grpc is not None:
            return self._grpc.search(collection, SearchRequest(vector, k, filter, ef, exact, with_payload, with_vector))
        return self._run(_core.search(collection, vector, k, filter, ef, exact, with_payload, with_vector))

    def search_batch(self, collection: str, searches: Sequence[SearchLike]) -> List[List[Hit]]:
        """``POST …/search/batch``: one hit list per search, in order."""
        if self._grpc is not None:
            reqs = [s if isinstance(s, SearchRequest) else SearchRequest(**dict(s)) for s in searches]
            return self._grpc.search_batch(collection, reqs)
        return self._run(_core.search_batch(collection, searches))

    # ---------------------------------------------------------------- admin

    def get_tier(self, collection: str) -> TierState:
        return self._run(_core.get_tier(collection))

    def promote(self, collection: str) -> TierState:
        return self._run(_core.promote(collection))

    def demote(self, collection: str, to: str = "warm") -> TierState:
        return self._run(_core.demote(collection, to))

    def pin(self, collection: str) -> TierState:
        return self._run(_core.pin(collection))

    def unpin(self, collection: str) -> TierState:
        return self._run(_core.unpin(collection))

    def compact(self, collection: str) -> CompactionReport:
        return self._run(_core.compact(collection))

    def create_snapshot(self, collection: str) -> Snapshot:
        return self._run(_core.create_snapshot(collection))

    def list_snapshots(self, collection: str) -> List[Snapshot]:
        return self._run(_core.list_snapshots(collection))

    def restore(
        self, collection: str, snapshot_id: Optional[str] = None, *, verify_integrity: Optional[bool] = None
    ) -> Collection:
        return self._run(_core.restore(collection, snapshot_id, verify_integrity))

    def handover(self, collection: str, to: Optional[str] = None) -> Handover:
        """Moves the collection's writer role to `to` (or any live node) without losing a write."""
        return self._run(_core.handover(collection, to))

    def list_dlq(self) -> List[DlqEntry]:
        return self._run(_core.list_dlq())

    def retry_dlq(self) -> DlqRetryReport:
        return self._run(_core.retry_dlq())

    # ---------------------------------------------------------------- aliases

    def update_aliases(self, actions: Sequence[Union[AliasAction, Mapping[str, Any]]]) -> bool:
        """``POST /api/v1/aliases``: applies the actions all together or not at all."""
        return self._run(_core.update_aliases(actions))

    def create_alias(self, alias: str, collection: str) -> bool:
        return self.update_aliases([CreateAlias(alias, collection)])

    def delete_alias(self, alias: str) -> bool:
        return self.update_aliases([DeleteAlias(alias)])

    def rename_alias(self, old_alias: str, new_alias: str) -> bool:
        return self.update_aliases([RenameAlias(old_alias, new_alias)])

    def list_aliases(self) -> List[Alias]:
        return self._run(_core.list_aliases())

    def collection_aliases(self, collection: str) -> List[Alias]:
        return self._run(_core.collection_aliases(collection))


class AsyncAkiDB:
    """Asynchronous client with the same methods as :class:`AkiDB` (awaitable)."""

    def __init__(
        self,
        url: str = "http://localhost:8080",
        api_key: Optional[str] = None,
        timeout: float = 30.0,
        *,
        pool_size: int = 16,
        prefer_grpc: bool = False,
    ) -> None:
        if prefer_grpc:
            raise NotImplementedError("AsyncAkiDB has no gRPC transport yet: use AkiDB(prefer_grpc=True) or REST")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=self.url,
            headers=_core.auth_headers(api_key),
            timeout=timeout,
            limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> "AsyncAkiDB":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, call: Call[T]) -> T:
        try:
            r = await self._client.request(call.method, call.path, content=call.body)
        except httpx.HTTPError as e:
            raise errors.TransportError(f"{call.method} {call.path}: {e!r}") from e
        return _core.finish(call, r.status_code, r.content, r.headers.get("x-request-id"))

    async def _retrying(self, call: Call[T], max_retries: int) -> T:
        attempt = 0
        while True:
            try:
                return await self._run(call)
            except errors.AkiDBError as e:
                if attempt >= max_retries or not _core.retryable(e):
                    raise
                await asyncio.sleep(_core.backoff(attempt))
                attempt += 1

    async def health(self) -> bool:
        return await self._run(_core.health())

    async def ready(self) -> bool:
        return await self._run(_core.ready())

    async def metrics(self) -> str:
        return await self._run(_core.metrics())

    async def openapi(self) -> JsonDict:
        return await self._run(_core.openapi())

    async def create_collection(
        self,
        name: str,
        dimension: int,
        metric: str = "cosine",
        *,
        index: Optional[Union[IndexParams, Mapping[str, Any]]] = None,
        tier: Optional[Union[TierPolicy, Mapping[str, Any]]] = None,
        text_index: Optional[Union[TextIndex, Mapping[str, Any]]] = None,
    ) -> Collection:
        return await self._run(_core.create_collection(name, dimension, metric, index, tier, text_index))

    async def list_collections(self) -> List[Collection]:
        return await self._run(_core.list_collections())

    async def get_collection(self, name: str) -> Collection:
        return await self._run(_core.get_collection(name))

    async def collection_exists(self, name: str) -> bool:
        try:
            await self.get_collection(name)
            return True
        except errors.CollectionNotFound:
            return False

    async def delete_collection(self, name: str) -> CollectionDeleted:
        return await self._run(_core.delete_collection(name))

    async def upsert(self, collection: str, points: Sequence[PointLike]) -> int:
        return await self._run(_core.upsert(collection, points))

    async def upload(
        self,
        collection: str,
        ids: Optional[Ids] = None,
        vectors: Any = None,
        payloads: Payloads = None,
        batch_size: int = 1000,
        *,
        parallel: int = 1,
        max_retries: int = 5,
        progress: bool = False,
    ) -> int:
        """As :meth:`AkiDB.upload`; ``parallel`` batches are awaited concurrently."""
        if vectors is None:
            raise ValueError("vectors= is required")
        vecs = _core.matrix(vectors)
        n = len(vecs)
        point_ids = _core.upload_ids(ids, n)
        if payloads is not None and len(payloads) != n:
            raise ValueError(f"{len(payloads)} payloads for {n} vectors")
        bar = _progress(n, progress)
        sem = asyncio.Semaphore(max(1, parallel))

        async def one(lo: int, hi: int) -> int:
            async with sem:
                body = _core.batch_body(point_ids, vecs, payloads, lo, hi)
                done = await self._retrying(_core.upsert_raw(collection, body), max_retries)
            if bar is not None:
                bar.update(hi - lo)
            return done

        try:
            results = await asyncio.gather(*(one(lo, hi) for lo, hi in _core.batches(n, batch_size)))
            return sum(results)
        finally:
            if bar is not None:
                bar.close()

    async def get_point(self, collection: str, id: PointId) -> Point:
        return await self._run(_core.get_point(collection, id))

    async def delete_point(self, collection: str, id: PointId) -> int:
        return await self._run(_core.delete_point(collection, id))

    async def delete_points(
        self, collection: str, ids: Optional[Ids] = None, *, filter: Optional[FilterLike] = None
    ) -> int:
        return await self._run(_core.delete_points(collection, ids, filter))

    async def get_points(
        self, collection: str, ids: Ids, *, with_payload: bool = True, with_vector: bool = False
    ) -> List[Record]:
        return await self._run(_core.get_points(collection, ids, with_payload, with_vector))

    async def scroll(
        self,
        collection: str,
        *,
        filter: Optional[FilterLike] = None,
        limit: Optional[int] = None,
        offset: Optional[Any] = None,
        with_payload: bool = True,
        with_vector: bool = False,
        order_by: Optional[Union[str, OrderBy]] = None,
    ) -> ScrollPage:
        return await self._run(_core.scroll(collection, filter, limit, offset, with_payload, with_vector, order_by))

    async def count(
        self, collection: str, *, filter: Optional[FilterLike] = None, exact: Optional[bool] = None
    ) -> int:
        return await self._run(_core.count(collection, filter, exact))

    async def set_payload(
        self,
        collection: str,
        payload: Mapping[str, Any],
        ids: Optional[Ids] = None,
        *,
        filter: Optional[FilterLike] = None,
    ) -> int:
        return await self._run(_core.set_payload(collection, payload, ids, filter))

    async def overwrite_payload(
        self,
        collection: str,
        payload: Mapping[str, Any],
        ids: Optional[Ids] = None,
        *,
        filter: Optional[FilterLike] = None,
    ) -> int:
        return await self._run(_core.set_payload(collection, payload, ids, filter, overwrite=True))

    async def delete_payload(
        self,
        collection: str,
        keys: Sequence[str],
        ids: Optional[Ids] = None,
        *,
        filter: Optional[FilterLike] = None,
    ) -> int:
        return await self._run(_core.delete_payload(collection, keys, ids, filter))

    async def search(
        self,
        collection: str,
        vector: Any,
        k: int = 10,
        filter: Optional[FilterLike] = None,
        *,
        ef: Optional[int] = None,
        exact: bool = False,
        with_payload: bool = True,
        with_vector: bool = False,
    ) -> List[Hit]:
        return await self._run(_core.search(collection, vector, k, filter, ef, exact, with_payload, with_vector))

    async def search_batch(self, collection: str, searches: Sequence[SearchLike]) -> List[List[Hit]]:
        return await self._run(_core.search_batch(collection, searches))

    async def get_tier(self, collection: str) -> TierState:
        return await self._run(_core.get_tier(collection))

    async def promote(self, collection: str) -> TierState:
        return await self._run(_core.promote(collection))

    async def demote(self, collection: str, to: str = "warm") -> TierState:
        return await self._run(_core.demote(collection, to))

    async def pin(self, collection: str) -> TierState:
        return await self._run(_core.pin(collection))

    async def unpin(self, collection: str) -> TierState:
        return await self._run(_core.unpin(collection))

    async def compact(self, collection: str) -> CompactionReport:
        return await self._run(_core.compact(collection))

    async def create_snapshot(self, collection: str) -> Snapshot:
        return await self._run(_core.create_snapshot(collection))

    async def list_snapshots(self, collection: str) -> List[Snapshot]:
        return await self._run(_core.list_snapshots(collection))

    async def restore(
        self, collection: str, snapshot_id: Optional[str] = None, *, verify_integrity: Optional[bool] = None
    ) -> Collection:
        return await self._run(_core.restore(collection, snapshot_id, verify_integrity))

    async def handover(self, collection: str, to: Optional[str] = None) -> Handover:
        """Moves the collection's writer role to `to` (or any live node) without losing a write."""
        return await self._run(_core.handover(collection, to))

    async def list_dlq(self) -> List[DlqEntry]:
        return await self._run(_core.list_dlq())

    async def retry_dlq(self) -> DlqRetryReport:
        return await self._run(_core.retry_dlq())

    async def update_aliases(self, actions: Sequence[Union[AliasAction, Mapping[str, Any]]]) -> bool:
        return await self._run(_core.update_aliases(actions))

    async def create_alias(self, alias: str, collection: str) -> bool:
        return await self.update_aliases([CreateAlias(alias, collection)])

    async def delete_alias(self, alias: str) -> bool:
        return await self.update_aliases([DeleteAlias(alias)])

    async def rename_alias(self, old_alias: str, new_alias: str) -> bool:
        return await self.update_aliases([RenameAlias(old_alias, new_alias)])

    async def list_aliases(self) -> List[Alias]:
        return await self._run(_core.list_aliases())

    async def collection_aliases(self, collection: str) -> List[Alias]:
        return await self._run(_core.collection_aliases(collection))


