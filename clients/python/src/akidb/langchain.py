"""LangChain integration: :class:`AkiDBVectorStore`, a ``langchain_core`` vector store.

Each text is stored as one point with the payload
``{"page_content": text, "metadata": {...}}``; metadata filters are given as a dict
(``{"section": "faq"}``, a list value meaning "any of") or as an :class:`akidb.Filter`
over ``metadata.<key>`` paths.

>>> store = AkiDBVectorStore.from_texts(texts, embedding, url="http://localhost:8080", collection_name="docs")
>>> store.similarity_search("query", k=4, filter={"section": "faq"})
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from . import errors
from .client import AkiDB
from .filters import Condition, Filter, FilterLike, Match, MatchAny
from .models import Hit, PointId

TEXT_KEY = "page_content"
METADATA_KEY = "metadata"

MetadataFilter = Union[Filter, Mapping[str, Any]]


def _point_id(s: str) -> PointId:
    """LangChain ids are strings; a string of digits is an integer id for AkiDB."""
    return int(s) if s.isdigit() else s


def metadata_filter(f: Optional[MetadataFilter]) -> Optional[FilterLike]:
    """A dict ``{key: value | [values]}`` → a filter on ``metadata.<key>``; a Filter as is."""
    if f is None or isinstance(f, Filter):
        return f
    if set(f) & {"must", "should", "must_not"}:
        return f
    conds: List[Condition] = []
    for key, value in f.items():
        path = f"{METADATA_KEY}.{key}"
        if isinstance(value, (list, tuple, set)):
            conds.append(MatchAny(path, list(value)))
        else:
            conds.append(Match(path, value))
    return Filter(must=conds)


class AkiDBVectorStore(VectorStore):
    """A LangChain vector store on an AkiDB collection."""

    def __init__(
        self,
        client: AkiDB,
        collection_name: str,
        embedding: Embeddings,
        *,
        metric: str = "cosine",
    ) -> None:
        self.client = client
        self.collection_name = collection_name
        self._embedding = embedding
        self.metric = metric

    @property
    def embeddings(self) -> Embeddings:
        return self._embedding

    def _ensure_collection(self, dimension: int) -> None:
        if not self.client.collection_exists(self.collection_name):
            try:
                self.client.create_collection(self.collection_name, dimension=dimension, metric=self.metric)
            except errors.CollectionAlreadyExists:
                pass

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: Optional[List[dict[str, Any]]] = None,
        *,
        ids: Optional[List[str]] = None,
        batch_size: int = 256,
        **kwargs: Any,
    ) -> List[str]:
        texts = list(texts)
        if not texts:
            return []
        if ids is None:
            ids = [str(uuid.uuid4()) for _ in texts]
        metas = metadatas if metadatas is not None else [{} for _ in texts]
        if len(ids) != len(texts) or len(metas) != len(texts):
            raise ValueError("texts, metadatas and ids must have the same length")
        vectors = self._embedding.embed_documents(texts)
        self._ensure_collection(len(vectors[0]))
        payloads = [{TEXT_KEY: t, METADATA_KEY: m or {}} for t, m in zip(texts, metas)]
        self.client.upload(
            self.collection_name,
            ids=[_point_id(i) for i in ids],
            vectors=vectors,
            payloads=payloads,
            batch_size=batch_size,
        )
        return list(ids)

    def delete(self, ids: Optional[List[str]] = None, **kwargs: Any) -> Optional[bool]:
        """Deletes these ids (or, with ``filter=``, the matching points)."""
        flt = metadata_filter(kwargs.get("filter"))
        if ids is None and flt is None:
            raise ValueError("give ids or filter=")
        if ids is not None:
            self.client.delete_points(self.collection_name, [_point_id(i) for i in ids])
        else:
            self.client.delete_points(self.collection_name, filter=flt)
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> List[Document]:
        records = self.client.get_points(self.collection_name, [_point_id(i) for i in ids])
        return [self._document(r.id, r.payload) for r in records]

    @staticmethod
    def _document(point_id: PointId, payload: Optional[Mapping[str, Any]]) -> Document:
        payload = payload or {}
        return Document(
            id=str(point_id),
            page_content=str(payload.get(TEXT_KEY, "")),
            metadata=dict(payload.get(METADATA_KEY) or {}),
        )

    def _search(self, vector: List[float], k: int, filter: Optional[MetadataFilter]) -> List[Hit]:
        try:
            return self.client.search(self.collection_name, vector=vector, k=k, filter=metadata_filter(filter))
        except errors.CollectionNotFound:
            return []

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Optional[MetadataFilter] = None, **kwargs: Any
    ) -> List[Tuple[Document, float]]:
        """Documents and the server's score (similarity for cosine/dot, distance for l2)."""
        return self.similarity_search_with_score_by_vector(self._embedding.embed_query(query), k, filter)

    def similarity_search_with_score_by_vector(
        self, embedding: List[float], k: int = 4, filter: Optional[MetadataFilter] = None, **kwargs: Any
    ) -> List[Tuple[Document, float]]:
        return [(self._document(h.id, h.payload), float(h.score)) for h in self._search(embedding, k, filter)]

    def similarity_search(
        self, query: str, k: int = 4, filter: Optional[MetadataFilter] = None, **kwargs: Any
    ) -> List[Document]:
        return [d for d, _ in self.similarity_search_with_score(query, k, filter)]

    def similarity_search_by_vector(
        self, embedding: List[float], k: int = 4, filter: Optional[MetadataFilter] = None, **kwargs: Any
    ) -> List[Document]:
        return [d for d, _ in self.similarity_search_with_score_by_vector(embedding, k, filter)]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        if self.metric == "l2":
            return self._euclidean_relevance_score_fn
        # cosine similarity in [-1, 1] → [0, 1]; dot products are passed through.
        if self.metric == "cosine":
            return lambda s: (s + 1.0) / 2.0
        return lambda s: s

    @classmethod
    def from_texts(
        cls,
        texts: List[str],
        embedding: Embeddings,
        metadatas: Optional[List[dict[str, Any]]] = None,
        *,
        ids: Optional[List[str]] = None,
        url: str = "http://localhost:8080",
        collection_name: Optional[str] = None,
        api_key: Optional[str] = None,
        metric: str = "cosine",
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> "AkiDBVectorStore":
        """Creates the collection if needed (dimension from the embedding) and adds ``texts``."""
        client = AkiDB(url, api_key=api_key, timeout=timeout)
        store = cls(client, collection_name or f"langchain-{uuid.uuid4().hex[:12]}", embedding, metric=metric)
        store.add_texts(texts, metadatas, ids=ids)
        return store
