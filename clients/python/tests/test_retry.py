"""upload() retries a batch on 503 and on connection errors, with backoff."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, Tuple

import numpy as np
import pytest

from akidb import AkiDB, AsyncAkiDB, errors


class _Flaky(BaseHTTPRequestHandler):
    """Answers the first `fail` upserts with 503 `code`, then 200."""

    state: Dict[str, Any] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        st = self.state
        st["calls"] += 1
        st["auth"].append(self.headers.get("Authorization"))
        if st["calls"] <= st["fail"]:
            out = json.dumps({"error": {"code": st["code"], "message": "try later"}}).encode()
            self.send_response(503)
        else:
            st["points"] += len(body["points"])
            st["first_vector"] = body["points"][0]["vector"]
            out = json.dumps({"upserted": len(body["points"])}).encode()
            self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture
def flaky() -> Iterator[Tuple[str, Dict[str, Any]]]:
    _Flaky.state = {"calls": 0, "fail": 2, "code": "collection_busy", "points": 0, "auth": []}
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", _Flaky.state
    srv.shutdown()
    srv.server_close()


def test_upload_retries_503(flaky: Tuple[str, Dict[str, Any]]) -> None:
    url, st = flaky
    c = AkiDB(url, api_key="k")
    vecs = np.arange(12, dtype=np.float32).reshape(4, 3) / 4
    assert c.upload("x", ids=[1, 2, 3, 4], vectors=vecs, batch_size=2) == 4
    assert st["calls"] == 4 and st["points"] == 4
    assert st["auth"][0] == "Bearer k"
    assert st["first_vector"] == [1.5, 1.75, 2.0]  # float32 sent as numbers


def test_upload_gives_up_after_max_retries(flaky: Tuple[str, Dict[str, Any]]) -> None:
    url, st = flaky
    st["fail"] = 100
    with pytest.raises(errors.CollectionBusy) as e:
        AkiDB(url).upload("x", ids=[1], vectors=[[1.0]], max_retries=2)
    assert e.value.status == 503 and st["calls"] == 3


def test_damaged_is_not_retried(flaky: Tuple[str, Dict[str, Any]]) -> None:
    url, st = flaky
    st["code"] = "collection_damaged"
    with pytest.raises(errors.CollectionDamaged):
        AkiDB(url).upload("x", ids=[1], vectors=[[1.0]])
    assert st["calls"] == 1


def test_async_upload_retries(flaky: Tuple[str, Dict[str, Any]]) -> None:
    import asyncio

    url, st = flaky
    st["code"] = "not_ready"

    async def run() -> int:
        async with AsyncAkiDB(url) as c:
            return await c.upload("x", ids=list(range(6)), vectors=np.ones((6, 2)), batch_size=2, parallel=3)

    assert asyncio.run(run()) == 6
    assert st["points"] == 6
