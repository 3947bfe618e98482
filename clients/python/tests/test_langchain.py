"""akidb.langchain.AkiDBVectorStore with langchain_core's deterministic fake embeddings."""

from __future__ import annotations

from typing import Optional

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import VectorStore

from akidb import AkiDB, Filter, Match
from akidb.langchain import AkiDBVectorStore

TEXTS = [
    "AkiDB stores vectors in tiers",
    "Python is a programming language",
    "The HNSW graph makes search fast",
    "Snapshots are written to Parquet",
]
METAS = [{"section": "db", "n": 0}, {"section": "lang", "n": 1}, {"section": "db", "n": 2}, {"section": "ops", "n": 3}]


def test_vector_store(url: str, api_key: Optional[str], client: AkiDB, name: str) -> None:
    emb = DeterministicFakeEmbedding(size=32)
    store = AkiDBVectorStore.from_texts(
        TEXTS, emb, metadatas=METAS, url=url, collection_name=name, api_key=api_key, ids=["a", "b", "c", "7"]
    )
    assert isinstance(store, VectorStore)
    assert store.embeddings is emb
    assert client.get_collection(name).dimension == 32
    assert client.count(name) == 4

    docs = store.similarity_search(TEXTS[2], k=2)
    assert isinstance(docs[0], Document)
    assert docs[0].page_content == TEXTS[2] and docs[0].metadata == METAS[2] and docs[0].id == "c"

    scored = store.similarity_search_with_score(TEXTS[0], k=4)
    assert scored[0][0].page_content == TEXTS[0] and scored[0][1] == pytest.approx(1.0, abs=1e-4)
    assert [s for _, s in scored] == sorted((s for _, s in scored), reverse=True)

    by_vec = store.similarity_search_by_vector(emb.embed_query(TEXTS[3]), k=1)
    assert by_vec[0].page_content == TEXTS[3] and by_vec[0].id == "7"

    only_db = store.similarity_search(TEXTS[1], k=4, filter={"section": "db"})
    assert sorted(d.page_content for d in only_db) == sorted([TEXTS[0], TEXTS[2]])
    any_of = store.similarity_search(TEXTS[1], k=4, filter={"section": ["lang", "ops"]})
    assert len(any_of) == 2
    built = store.similarity_search(TEXTS[1], k=4, filter=Filter(must=[Match("metadata.n", 1)]))
    assert [d.page_content for d in built] == [TEXTS[1]]

    rel = store.similarity_search_with_relevance_scores(TEXTS[0], k=1)
    assert 0.99 <= rel[0][1] <= 1.0001

    new_ids = store.add_texts(["one more text"], [{"section": "new"}])
    assert len(new_ids) == 1 and client.count(name) == 5
    assert [d.page_content for d in store.get_by_ids(new_ids + ["a"])] == ["one more text", TEXTS[0]]

    assert store.delete(["a", "7"]) is True
    assert client.count(name) == 3
    store.delete(filter={"section": "new"})
    assert client.count(name) == 2
    assert {d.id for d in store.similarity_search("anything", k=10)} == {"b", "c"}
