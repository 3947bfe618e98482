"""The client covers every route of the server's OpenAPI document and never sends a
field the server's request schema lacks."""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Set

import numpy as np
import orjson

from akidb import ROUTES, AkiDB, AsyncAkiDB, Filter, Match, Range, SearchRequest, _core
from akidb.models import CreateAlias, DeleteAlias, IndexParams, OrderBy, PointStruct, RenameAlias, TierPolicy


def test_every_openapi_route_has_a_client_method(client: AkiDB) -> None:
    doc = client.openapi()
    served = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops if m in ("get", "post", "put", "delete", "patch")}
    missing = sorted(r for r in served if r not in ROUTES)
    assert not missing, f"routes without a client method (add them to akidb._core.ROUTES): {missing}"
    for route, method in ROUTES.items():
        assert callable(getattr(AkiDB, method, None)), f"AkiDB.{method} missing for {route}"
        am = getattr(AsyncAkiDB, method, None)
        assert am is not None and inspect.iscoroutinefunction(am), f"AsyncAkiDB.{method} missing for {route}"


def _resolve(doc: Dict[str, Any], schema: Dict[str, Any]) -> Dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def _check(doc: Dict[str, Any], schema: Dict[str, Any], value: Any, where: str, errs: List[str]) -> None:
    schema = _resolve(doc, schema)
    for alt in ("oneOf", "anyOf", "allOf"):
        if alt in schema:
            objs = [_resolve(doc, s) for s in schema[alt] if _resolve(doc, s).get("properties")]
            if objs and isinstance(value, dict):
                _check(doc, objs[0], value, where, errs)
            return
    props = schema.get("properties")
    if isinstance(value, dict) and props is not None:
        for k, v in value.items():
            if k not in props:
                errs.append(f"{where}: field {k!r} is not in the server's schema ({sorted(props)})")
            else:
                _check(doc, props[k], v, f"{where}.{k}", errs)
        for k in schema.get("required", []):
            if k not in value:
                errs.append(f"{where}: required field {k!r} missing")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            _check(doc, schema["items"], v, f"{where}[{i}]", errs)


def _every_call() -> List[_core.Call[Any]]:
    """Each body-carrying call with every optional field set."""
    f = Filter(must=[Match("a", 1)], should=[Range("b", gte=0)])
    v = np.ones(3, dtype=np.float32)
    return [
        _core.create_collection("c", 3, "l2", IndexParams(16, 100, 50, "hnsw"), TierPolicy("1h", "2d", True)),
        _core.upsert("c", [PointStruct(1, v, {"x": 1}), {"id": "s", "vector": [1.0, 2.0, 3.0]}]),
        _core.delete_points("c", ids=[1, "s"]),
        _core.delete_points("c", filter=f),
        _core.get_points("c", [1, "s"], with_payload=False, with_vector=True),
        _core.scroll("c", f, 5, 3, False, True),
        _core.count("c", f, False),
        _core.set_payload("c", {"k": 1}, ids=[1]),
        _core.set_payload("c", {"k": 1}, filter=f, overwrite=True),
        _core.delete_payload("c", ["k"], ids=[1]),
        _core.search("c", v, 3, f, 64, True, False, True),
        _core.search_batch("c", [SearchRequest(v, 2, f, 32, True, False, True), {"vector": [1, 2, 3]}]),
        _core.demote("c", "cold"),
        _core.restore("c", "latest", True),
        _core.handover("c", "n1"),
        _core.scroll("c", f, 5, {"value": 3, "id": 1}, True, False, OrderBy("n", "desc")),
        _core.update_aliases([CreateAlias("a", "c"), DeleteAlias("b"), RenameAlias("a", "d")]),
    ]


def test_request_bodies_match_the_server_schemas(client: AkiDB) -> None:
    doc = client.openapi()
    errs: List[str] = []
    seen: Set[tuple[str, str]] = set()
    for call in _every_call():
        if call.method.lower() not in doc["paths"].get(call.route, {}):
            continue  # a route this server build does not have yet
        if b"order_by" in (call.body or b"") and "order_by" not in doc["components"]["schemas"]["ScrollBody"]["properties"]:
            continue  # scroll order_by arrives with a newer server build
        op = doc["paths"][call.route][call.method.lower()]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        assert call.body is not None
        _check(doc, schema, orjson.loads(call.body), f"{call.method} {call.route}", errs)
        seen.add((call.method, call.route))
    assert not errs, "\n".join(errs)
    with_body = {
        (m.upper(), p)
        for p, ops in doc["paths"].items()
        for m, op in ops.items()
        if isinstance(op, dict) and "requestBody" in op
    }
    assert with_body <= seen, f"routes with a body not covered by this test: {sorted(with_body - seen)}"
