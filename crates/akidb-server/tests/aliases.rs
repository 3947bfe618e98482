//! Collection aliases and scroll `order_by` over the real binary (REST and gRPC): CRUD and
//! every bad input, durability across `kill -9`, an alias swapped under search load, and
//! ordered scrolls across pages (issue #16).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use akidb_proto::v1 as pb;
use common::{Rest, Server};
use serde_json::{json, Value};

impl Rest {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn aliases(&self, actions: Value) -> (u16, Value) {
        self.post("/aliases", json!({ "actions": actions })).await
    }

    async fn list(&self) -> Value {
        self.ok(reqwest::Method::GET, "/aliases", None).await["aliases"].clone()
    }

    async fn collection(&self, name: &str, points: u64) {
        self.ok(
            reqwest::Method::POST,
            "/collections",
            Some(json!({"name": name, "dimension": 4, "metric": "l2"})),
        )
        .await;
        let pts: Vec<Value> = (0..points)
            .map(|i| {
                json!({"id": i, "vector": [i as f32, 1.0, 0.5, 0.25],
                       "payload": {"coll": name, "rank": i % 7}})
            })
            .collect();
        self.ok(
            reqwest::Method::PUT,
            &format!("/collections/{name}/points"),
            Some(json!({ "points": pts })),
        )
        .await;
    }
}

fn expect_error(got: (u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
}

fn create(alias: &str, collection: &str) -> Value {
    json!({"create": {"alias": alias, "collection": collection}})
}

fn delete(alias: &str) -> Value {
    json!({"delete": {"alias": alias}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alias_crud_bad_input_and_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &[]).await;
    let rest = Rest::new(&server, "/api/v1");
    rest.collection("c1", 20).await;
    rest.collection("c2", 30).await;

    assert_eq!(rest.list().await, json!([]));
    let (status, v) = rest
        .aliases(json!([create("a", "c1"), create("b", "c1")]))
        .await;
    assert_eq!((status, v), (200, json!({"applied": true})));
    assert_eq!(
        rest.list().await,
        json!([{"alias":"a","collection":"c1"},{"alias":"b","collection":"c1"}])
    );

    // Every route that names a collection takes the alias.
    let search = json!({"vector": [0.0, 1.0, 0.5, 0.25], "k": 3});
    let (s, v) = rest.post("/collections/a/search", search.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["hits"][0]["payload"]["coll"], "c1");
    let (s, v) = rest.post("/collections/a/points/count", json!({})).await;
    assert_eq!((s, v["count"].clone()), (200, json!(20)));
    rest.ok(
        reqwest::Method::PUT,
        "/collections/b/points",
        Some(json!({"points": [{"id": 100, "vector": [1.0, 1.0, 1.0, 1.0], "payload": {"coll": "c1"}}]})),
    )
    .await;
    let v = rest
        .ok(reqwest::Method::GET, "/collections/c1/points/100", None)
        .await;
    assert_eq!(v["id"], 100);
    let v = rest.ok(reqwest::Method::GET, "/collections/a", None).await;
    assert_eq!(v["name"], "c1");
    let v = rest
        .ok(reqwest::Method::GET, "/admin/collections/a/tier", None)
        .await;
    assert_eq!(v["name"], "c1");
    let v = rest
        .ok(reqwest::Method::POST, "/admin/collections/b/snapshot", None)
        .await;
    assert_eq!(v["rows"], 21);
    let v = rest
        .ok(reqwest::Method::GET, "/admin/collections/a/snapshots", None)
        .await;
    assert_eq!(v["snapshots"].as_array().unwrap().len(), 1, "{v}");
    let v = rest
        .ok(reqwest::Method::GET, "/collections/a/aliases", None)
        .await;
    assert_eq!(v["aliases"].as_array().unwrap().len(), 2);
    let v = rest
        .ok(reqwest::Method::GET, "/collections/c2/aliases", None)
        .await;
    assert_eq!(v["aliases"], json!([]));

    // Bad input, each with its code; a failing list changes nothing.
    expect_error(
        rest.aliases(json!([create("x", "nope")])).await,
        404,
        "collection_not_found",
    );
    expect_error(
        rest.aliases(json!([create("c2", "c1")])).await,
        409,
        "alias_conflict",
    );
    expect_error(
        rest.aliases(json!([create("x", "a")])).await,
        400,
        "alias_chain",
    );
    expect_error(
        rest.aliases(json!([create("a", "c2")])).await,
        409,
        "alias_already_exists",
    );
    expect_error(
        rest.aliases(json!([delete("zz")])).await,
        404,
        "alias_not_found",
    );
    expect_error(
        rest.aliases(json!([create("bad name", "c1")])).await,
        400,
        "invalid_alias_name",
    );
    expect_error(
        rest.aliases(json!([create(&"x".repeat(65), "c1")])).await,
        400,
        "invalid_alias_name",
    );
    expect_error(rest.aliases(json!([])).await, 400, "invalid_request");
    expect_error(
        rest.aliases(json!([{"drop": {"alias": "a"}}])).await,
        400,
        "invalid_json",
    );
    expect_error(
        rest.post("/aliases", json!({"acts": []})).await,
        400,
        "invalid_json",
    );
    expect_error(
        rest.aliases(json!([{"rename": {"old_alias": "a", "new_alias": "c2"}}]))
            .await,
        409,
        "alias_conflict",
    );
    expect_error(
        rest.aliases(json!([{"rename": {"old_alias": "a", "new_alias": "b"}}]))
            .await,
        409,
        "alias_already_exists",
    );
    expect_error(
        rest.aliases(json!([
            delete("a"),
            create("a", "c2"),
            create("y", "missing")
        ]))
        .await,
        404,
        "collection_not_found",
    );
    assert_eq!(
        rest.list().await,
        json!([{"alias":"a","collection":"c1"},{"alias":"b","collection":"c1"}])
    );
    expect_error(
        rest.post(
            "/collections",
            json!({"name": "a", "dimension": 4, "metric": "l2"}),
        )
        .await,
        409,
        "alias_conflict",
    );
    // A collection is dropped by its own name only.
    expect_error(
        rest.call(reqwest::Method::DELETE, "/collections/a", None)
            .await,
        404,
        "collection_not_found",
    );
    expect_error(
        rest.call(reqwest::Method::GET, "/collections/zz/aliases", None)
            .await,
        404,
        "collection_not_found",
    );

    // Rename and swap.
    let (s, v) = rest
        .aliases(json!([{"rename": {"old_alias": "b", "new_alias": "live"}}, delete("a"), create("a", "c2")]))
        .await;
    assert_eq!(s, 200, "{v}");
    let want = json!([{"alias":"a","collection":"c2"},{"alias":"live","collection":"c1"}]);
    assert_eq!(rest.list().await, want);

    // gRPC agrees and reports the same codes.
    let ch = tonic::transport::Endpoint::from_shared(server.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut al = pb::aliases_client::AliasesClient::new(ch.clone());
    let listed = al
        .list(pb::ListAliasesRequest {})
        .await
        .unwrap()
        .into_inner();
    let pairs: Vec<(String, String)> = listed
        .aliases
        .into_iter()
        .map(|a| (a.alias, a.collection))
        .collect();
    assert_eq!(
        pairs,
        vec![("a".into(), "c2".into()), ("live".into(), "c1".into())]
    );
    let action = |a: pb::alias_action::Action| pb::AliasAction { action: Some(a) };
    al.update(pb::UpdateAliasesRequest {
        actions: vec![action(pb::alias_action::Action::Create(pb::CreateAlias {
            alias: "g".into(),
            collection: "c2".into(),
        }))],
    })
    .await
    .unwrap();
    let e = al
        .update(pb::UpdateAliasesRequest {
            actions: vec![action(pb::alias_action::Action::Delete(pb::DeleteAlias {
                alias: "nope".into(),
            }))],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert_eq!(
        e.metadata().get("akidb-error-code").unwrap(),
        "alias_not_found"
    );
    let mine = al
        .list_for_collection(pb::CollectionName { name: "g".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.aliases.len(), 2);
    let mut pts = pb::points_client::PointsClient::new(ch);
    let n = pts
        .count(pb::CountRequest {
            collection: "g".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .count;
    assert_eq!(n, 30);

    // Aliases survive kill -9.
    server.kill9();
    server.restart().await;
    let rest = Rest::new(&server, "/api/v1");
    let want = json!([
        {"alias":"a","collection":"c2"},
        {"alias":"g","collection":"c2"},
        {"alias":"live","collection":"c1"}
    ]);
    assert_eq!(rest.list().await, want);
    let (s, v) = rest.post("/collections/live/search", search).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["hits"][0]["payload"]["coll"], "c1");

    // Dropping a collection removes its aliases, durably.
    rest.ok(reqwest::Method::DELETE, "/collections/c2", None)
        .await;
    assert_eq!(
        rest.list().await,
        json!([{"alias":"live","collection":"c1"}])
    );
    expect_error(
        rest.post("/collections/a/points/count", json!({})).await,
        404,
        "collection_not_found",
    );
    server.kill9();
    server.restart().await;
    let rest = Rest::new(&server, "/api/v1");
    assert_eq!(
        rest.list().await,
        json!([{"alias":"live","collection":"c1"}])
    );
}

/// Searchers hammer an alias while it is swapped between two collections with one atomic
/// `[delete, create]` request each time: no request fails and every answer comes wholly
/// from one collection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alias_swap_under_search_load() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]).await;
    let rest = Rest::new(&server, "/api/v1");
    rest.collection("blue", 300).await;
    rest.collection("green", 300).await;
    let (s, v) = rest.aliases(json!([create("live", "blue")])).await;
    assert_eq!(s, 200, "{v}");

    let stop = Arc::new(AtomicBool::new(false));
    let searches = Arc::new(AtomicUsize::new(0));
    let mut searchers = Vec::new();
    for t in 0..3u32 {
        let rest = rest.clone();
        let stop = stop.clone();
        let searches = searches.clone();
        searchers.push(tokio::spawn(async move {
            let mut seen = std::collections::BTreeSet::new();
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let x = ((t * 97 + i) % 300) as f32;
                let (path, body) = if i % 2 == 0 {
                    (
                        "/collections/live/search",
                        json!({"vector": [x, 1.0, 0.5, 0.25], "k": 20}),
                    )
                } else {
                    (
                        "/collections/live/points/scroll",
                        json!({"limit": 20, "order_by": {"key": "rank", "direction": "desc"}}),
                    )
                };
                let (status, v) = rest.post(path, body).await;
                assert_eq!(status, 200, "{path}: {v}");
                let items = v
                    .get("hits")
                    .or_else(|| v.get("points"))
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .clone();
                assert_eq!(items.len(), 20, "{v}");
                let colls: std::collections::BTreeSet<String> = items
                    .iter()
                    .map(|h| h["payload"]["coll"].as_str().unwrap().to_string())
                    .collect();
                assert_eq!(colls.len(), 1, "an answer mixed collections: {v}");
                seen.extend(colls);
                searches.fetch_add(1, Ordering::Relaxed);
            }
            seen
        }));
    }
    let swaps = 60;
    for i in 0..swaps {
        let to = if i % 2 == 0 { "green" } else { "blue" };
        let (s, v) = rest
            .aliases(json!([delete("live"), create("live", to)]))
            .await;
        assert_eq!(s, 200, "{v}");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for s in searchers {
        seen.extend(s.await.unwrap());
    }
    let n = searches.load(Ordering::Relaxed);
    assert!(n >= 100, "only {n} searches ran during the swaps");
    assert_eq!(seen.len(), 2, "searches saw only {seen:?}");
    assert_eq!(
        rest.list().await,
        json!([{"alias":"live","collection":"blue"}])
    );
}

/// Every id an ordered scroll returns, page by page.
async fn scroll_ordered(rest: &Rest, order_by: Value, filter: Value, limit: u64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut offset = Value::Null;
    loop {
        let (s, page) = rest
            .post(
                "/collections/o/points/scroll",
                json!({"order_by": order_by, "filter": filter, "limit": limit, "offset": offset}),
            )
            .await;
        assert_eq!(s, 200, "{page}");
        let pts = page["points"].as_array().unwrap();
        assert!(pts.len() as u64 <= limit);
        out.extend(pts.iter().map(|p| p["id"].clone()));
        offset = page["next_offset"].clone();
        if offset.is_null() {
            return out;
        }
        assert!(
            offset["value"].is_number() || offset["value"].is_string(),
            "{offset}"
        );
    }
}

/// The order a test computes: numbers before strings, ties by id (integers before strings).
fn sort_key(v: &Value) -> (u8, f64, String) {
    match v {
        Value::Number(n) => (0, n.as_f64().unwrap(), String::new()),
        Value::String(s) => (1, 0.0, s.clone()),
        _ => unreachable!(),
    }
}

fn id_key(id: &Value) -> (u8, u64, String) {
    match id {
        Value::Number(n) => (0, n.as_u64().unwrap(), String::new()),
        Value::String(s) => (1, 0, s.clone()),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scroll_order_by_pages_match_a_sort() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]).await;
    let rest = Rest::new(&server, "/api/v1");
    rest.ok(
        reqwest::Method::POST,
        "/collections",
        Some(json!({"name": "o", "dimension": 2, "metric": "l2"})),
    )
    .await;
    let mut rows: Vec<(Value, Option<Value>, u64)> = Vec::new();
    let pts: Vec<Value> = (0..400u64)
        .map(|i| {
            let id = if i % 9 == 4 {
                json!(format!("s{i:03}"))
            } else {
                json!(i)
            };
            let rank = match i % 10 {
                0 => None,
                1 => Some(json!(format!("w{}", i % 4))),
                2 => Some(json!(null)),
                3 => Some(json!(-(((i % 5) as f64) + 0.5))),
                _ => Some(json!(i % 6)),
            };
            let mut payload = json!({"g": i % 2});
            if let Some(r) = &rank {
                payload["rank"] = r.clone();
            }
            let orderable = rank.filter(|r| r.is_number() || r.is_string());
            rows.push((id.clone(), orderable, i % 2));
            json!({"id": id, "vector": [i as f32, 0.0], "payload": payload})
        })
        .collect();
    rest.ok(
        reqwest::Method::PUT,
        "/collections/o/points",
        Some(json!({ "points": pts })),
    )
    .await;

    for (direction, g) in [
        ("asc", None),
        ("desc", None),
        ("asc", Some(1)),
        ("desc", Some(0)),
    ] {
        let mut want: Vec<&(Value, Option<Value>, u64)> = rows
            .iter()
            .filter(|r| r.1.is_some() && g.is_none_or(|g| r.2 == g))
            .collect();
        want.sort_by(|a, b| {
            let (ka, kb) = (
                sort_key(a.1.as_ref().unwrap()),
                sort_key(b.1.as_ref().unwrap()),
            );
            let by_value = ka.partial_cmp(&kb).unwrap();
            let by_value = if direction == "desc" {
                by_value.reverse()
            } else {
                by_value
            };
            by_value.then_with(|| id_key(&a.0).cmp(&id_key(&b.0)))
        });
        let want: Vec<Value> = want.into_iter().map(|r| r.0.clone()).collect();
        let filter = match g {
            Some(g) => json!({"must": [{"key": "g", "match": {"value": g}}]}),
            None => Value::Null,
        };
        for limit in [7, 1000] {
            let got = scroll_ordered(
                &rest,
                json!({"key": "rank", "direction": direction}),
                filter.clone(),
                limit,
            )
            .await;
            assert_eq!(got, want, "{direction} filter {filter} limit {limit}");
        }
    }
    // The short form is ascending.
    let got = scroll_ordered(&rest, json!("rank"), Value::Null, 50).await;
    let asc = scroll_ordered(&rest, json!({"key": "rank"}), Value::Null, 50).await;
    assert_eq!(got, asc);

    // gRPC pages through the same order.
    let ch = tonic::transport::Endpoint::from_shared(server.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut pts = pb::points_client::PointsClient::new(ch);
    let mut grpc_ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = pts
            .scroll(pb::ScrollRequest {
                collection: "o".into(),
                limit: Some(33),
                order_by: Some(pb::OrderBy {
                    key: "rank".into(),
                    direction: "desc".into(),
                }),
                order_offset_json: cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.next_offset.is_none());
        for r in page.points {
            grpc_ids.push(match r.id.unwrap().kind.unwrap() {
                pb::point_id::Kind::Num(n) => json!(n),
                pb::point_id::Kind::Str(s) => json!(s),
            });
        }
        match page.next_order_offset_json {
            Some(c) => cursor = c,
            None => break,
        }
    }
    let rest_desc = scroll_ordered(
        &rest,
        json!({"key":"rank","direction":"desc"}),
        Value::Null,
        33,
    )
    .await;
    assert_eq!(grpc_ids, rest_desc);
    let e = pts
        .scroll(pb::ScrollRequest {
            collection: "o".into(),
            order_by: Some(pb::OrderBy {
                key: "rank".into(),
                direction: "sideways".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        e.metadata().get("akidb-error-code").unwrap(),
        "invalid_order_by"
    );

    // Bad input.
    let scroll = |body: Value| {
        let rest = rest.clone();
        async move { rest.post("/collections/o/points/scroll", body).await }
    };
    for bad in [
        json!({"order_by": {"key": "rank", "direction": "up"}}),
        json!({"order_by": {"key": ""}}),
        json!({"order_by": {"key": 5}}),
        json!({"order_by": {"key": "rank", "extra": 1}}),
        json!({"order_by": 5}),
        json!({"order_by": ""}),
    ] {
        expect_error(scroll(bad).await, 400, "invalid_order_by");
    }
    for bad in [
        json!({"order_by": "rank", "offset": 5}),
        json!({"order_by": "rank", "offset": {"value": [1], "id": 5}}),
        json!({"order_by": "rank", "offset": {"value": 1}}),
        json!({"offset": {"value": 1, "id": 5}}),
    ] {
        expect_error(scroll(bad).await, 400, "invalid_offset");
    }
}
