"""The README's quickstart runs as written against the server."""

from __future__ import annotations

import pathlib
import re
from typing import Any, Dict, Optional

from akidb import AkiDB, errors

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def _run(code: str, url: str, api_key: Optional[str]) -> Dict[str, Any]:
    code = code.replace('"http://localhost:8080"', repr(url)).replace("api_key=None", f"api_key={api_key!r}")
    ns: Dict[str, Any] = {"__name__": "readme"}
    exec(compile(code, str(README), "exec"), ns)
    return ns


def test_quickstart(url: str, api_key: Optional[str], client: AkiDB) -> None:
    code = _blocks()[0]
    assert len(code.strip().splitlines()) <= 12
    try:
        client.delete_collection("docs")
    except errors.NotFound:
        pass
    ns = _run(code, url, api_key)
    hits = ns["hits"]
    assert len(hits) == 10 and hits[0].id == 0 and hits[0].payload == {"section": "guide"}
    assert not client.collection_exists("docs")


def test_langchain_snippet(url: str, api_key: Optional[str], client: AkiDB) -> None:
    code = _blocks()[1]
    code = code.replace('url="http://localhost:8080",', f"url={url!r}, api_key={api_key!r},")
    try:
        client.delete_collection("lc-docs")
    except errors.NotFound:
        pass
    try:
        ns = _run(code, url, api_key)
        docs = ns["store"].similarity_search("AkiDB stores vectors", k=1, filter={"section": "db"})
        assert docs[0].page_content == "AkiDB stores vectors"
    finally:
        client.delete_collection("lc-docs")
