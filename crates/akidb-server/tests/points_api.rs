//! Get-many, scroll, count and payload updates over the real binary (REST and gRPC),
//! including durability across `kill -9` and bad input (issue #16).

mod common;

use akidb_proto::v1 as pb;
use common::{Rest, Server};
use serde_json::{json, Value};

impl Rest {
    async fn post(&self, path: &str, body: Value) -> Value {
        self.ok(reqwest::Method::POST, path, Some(body)).await
    }

    /// Every id a full scroll with this filter returns, checking ascending order.
    async fn scroll_all(&self, filter: Value, limit: u64) -> Vec<Value> {
        let mut out = Vec::new();
        let mut offset = Value::Null;
        loop {
            let page = self
                .post(
                    "/p/points/scroll",
                    json!({"filter": filter, "limit": limit, "offset": offset, "with_payload": false}),
                )
                .await;
            for p in page["points"].as_array().unwrap() {
                assert!(p.get("payload").is_none());
                out.push(p["id"].clone());
            }
            offset = page["next_offset"].clone();
            if offset.is_null() {
                return out;
            }
        }
    }
}

fn points(range: std::ops::Range<u64>) -> Value {
    let pts: Vec<Value> = range
        .map(|i| {
            let id = if i % 10 == 9 {
                json!(format!("s{i:04}"))
            } else {
                json!(i)
            };
            json!({"id": id, "vector": [i as f32, 1.0], "payload": {"g": i % 3, "n": i}})
        })
        .collect();
    json!({ "points": pts })
}

async fn setup(server: &Server) -> Rest {
    let rest = Rest::new(server, "/api/v1/collections");
    let (status, v) = rest
        .call(
            reqwest::Method::POST,
            "",
            Some(json!({"name":"p","dimension":2,"metric":"l2"})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    rest.ok(reqwest::Method::PUT, "/p/points", Some(points(0..60)))
        .await;
    rest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_scroll_count_and_payload_updates_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &[]).await;
    let rest = setup(&server).await;

    // Get many: request order, missing ids absent.
    let got = rest
        .post(
            "/p/points/get",
            json!({"ids": [5, 1000, "s0009", 2], "with_vector": true, "with_payload": false}),
        )
        .await;
    let pts = got["points"].as_array().unwrap();
    let ids: Vec<&Value> = pts.iter().map(|p| &p["id"]).collect();
    assert_eq!(ids, vec![&json!(5), &json!("s0009"), &json!(2)]);
    assert_eq!(pts[0]["vector"], json!([5.0, 1.0]));
    assert!(pts[0].get("payload").is_none());

    // Scroll: id order, integers before strings, every point once.
    let all = rest.scroll_all(Value::Null, 7).await;
    assert_eq!(all.len(), 60);
    assert_eq!(all[0], json!(0));
    assert_eq!(all[53], json!(58));
    assert_eq!(all[54], json!("s0009"));
    assert_eq!(all[59], json!("s0059"));

    // Count.
    let g0 = json!({"must":[{"key":"g","match":{"value":0}}]});
    let c = rest
        .post("/p/points/count", json!({"filter": g0, "exact": true}))
        .await;
    assert_eq!(c["count"], json!(20));
    let c = rest.post("/p/points/count", json!({"exact": false})).await;
    assert_eq!(c["count"], json!(60));

    // Payload updates: merge by filter, overwrite by ids, delete keys by ids.
    let v = rest
        .post(
            "/p/points/payload",
            json!({"payload": {"tag": "zero"}, "filter": g0}),
        )
        .await;
    assert_eq!(v["updated"], 20);
    let v = rest
        .ok(
            reqwest::Method::PUT,
            "/p/points/payload",
            Some(json!({"payload": {"only": 1}, "ids": [1, 2, 999]})),
        )
        .await;
    assert_eq!(v["updated"], 2);
    let v = rest
        .post(
            "/p/points/payload/delete",
            json!({"keys": ["n"], "ids": [3, "s0009"]}),
        )
        .await;
    assert_eq!(v["updated"], 2);

    let check = |rest: &Rest| {
        let rest = Rest {
            http: rest.http.clone(),
            base: rest.base.clone(),
        };
        async move {
            let tag = json!({"must":[{"key":"tag","match":{"value":"zero"}}]});
            let c = rest.post("/p/points/count", json!({"filter": tag})).await;
            assert_eq!(c["count"], json!(20));
            let tagged = rest.scroll_all(tag.clone(), 6).await;
            let want: Vec<Value> = (0..60u64)
                .filter(|i| i % 3 == 0 && i % 10 != 9)
                .map(|i| json!(i))
                .chain(
                    (0..60u64)
                        .filter(|i| i % 3 == 0 && i % 10 == 9)
                        .map(|i| json!(format!("s{i:04}"))),
                )
                .collect();
            assert_eq!(tagged, want);
            let got = rest
                .post("/p/points/get", json!({"ids": [1, 3, 6, "s0009"]}))
                .await;
            let payloads: Vec<&Value> = got["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| &p["payload"])
                .collect();
            assert_eq!(
                payloads,
                vec![
                    &json!({"only": 1}),
                    &json!({"g": 0, "tag": "zero"}),
                    &json!({"g": 0, "n": 6, "tag": "zero"}),
                    &json!({"g": 0, "tag": "zero"}),
                ]
            );
            // Search filters see the updates too.
            let hits = rest
                .post(
                    "/p/search",
                    json!({"vector": [1.0, 1.0], "k": 3, "filter": {"must":[{"key":"only","match":{"value":1}}]}}),
                )
                .await;
            let ids: Vec<&Value> = hits["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| &h["id"])
                .collect();
            assert_eq!(ids, vec![&json!(1), &json!(2)]);
        }
    };
    check(&rest).await;

    server.kill9();
    server.restart().await;
    let rest = Rest::new(&server, "/api/v1/collections");
    check(&rest).await;

    // gRPC mirrors the routes.
    let ch = tonic::transport::Endpoint::from_shared(server.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut pts = pb::points_client::PointsClient::new(ch);
    let num = |n| pb::PointId {
        kind: Some(pb::point_id::Kind::Num(n)),
    };
    let got = pts
        .get_many(pb::GetManyRequest {
            collection: "p".into(),
            ids: vec![num(6), num(4242), num(1)],
            with_payload: None,
            with_vector: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.points.len(), 2);
    assert_eq!(got.points[1].payload_json.as_deref(), Some(r#"{"only":1}"#));
    let page = pts
        .scroll(pb::ScrollRequest {
            collection: "p".into(),
            limit: Some(50),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.points.len(), 50);
    let next = page.next_offset.clone().unwrap();
    let page = pts
        .scroll(pb::ScrollRequest {
            collection: "p".into(),
            limit: Some(50),
            offset: Some(next),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.points.len(), 10);
    assert!(page.next_offset.is_none());
    let n = pts
        .set_payload(pb::SetPayloadRequest {
            collection: "p".into(),
            payload_json: r#"{"grpc":true}"#.into(),
            ids: vec![num(7), num(8)],
            filter_json: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(n.updated, 2);
    let c = pts
        .count(pb::CountRequest {
            collection: "p".into(),
            filter_json: r#"{"must":[{"key":"grpc","match":{"value":true}}]}"#.into(),
            exact: Some(true),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.count, 2);
    let n = pts
        .delete_payload(pb::DeletePayloadRequest {
            collection: "p".into(),
            keys: vec!["grpc".into()],
            ids: Vec::new(),
            filter_json: r#"{"must":[{"key":"grpc","match":{"value":true}}]}"#.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(n.updated, 2);
    let err = pts
        .overwrite_payload(pb::SetPayloadRequest {
            collection: "p".into(),
            payload_json: "[1]".into(),
            ids: vec![num(7)],
            filter_json: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scroll_and_payload_requests_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]).await;
    let rest = setup(&server).await;
    let before = rest
        .post("/p/points/get", json!({"ids": [0, 1, 2, "s0009"]}))
        .await;
    let post = reqwest::Method::POST;
    let put = reqwest::Method::PUT;
    let big = "x".repeat(70_000);
    let cases: Vec<(reqwest::Method, &str, Value, u16, &str)> = vec![
        (
            post.clone(),
            "/p/points/scroll",
            json!({"offset": {"id": 3}}),
            400,
            "invalid_offset",
        ),
        (
            post.clone(),
            "/p/points/scroll",
            json!({"offset": [3]}),
            400,
            "invalid_offset",
        ),
        (
            post.clone(),
            "/p/points/scroll",
            json!({"offset": -1}),
            400,
            "invalid_offset",
        ),
        (
            post.clone(),
            "/p/points/scroll",
            json!({"limit": 0}),
            400,
            "invalid_limit",
        ),
        (
            post.clone(),
            "/p/points/scroll",
            json!({"limit": 10_001}),
            400,
            "invalid_limit",
        ),
        (
            post.clone(),
            "/p/points/scroll",
            json!({"filter": {"must": 3}}),
            400,
            "invalid_filter",
        ),
        (
            post.clone(),
            "/p/points/scroll",
            json!({"limit": "ten"}),
            400,
            "invalid_json",
        ),
        (
            post.clone(),
            "/p/points/count",
            json!({"filter": {"must": [{"key": "g"}]}}),
            400,
            "invalid_filter",
        ),
        (
            post.clone(),
            "/p/points/get",
            json!({"ids": [{}]}),
            400,
            "invalid_id",
        ),
        (
            post.clone(),
            "/p/points/payload",
            json!({"payload": {"a": 1}}),
            400,
            "invalid_request",
        ),
        (
            put.clone(),
            "/p/points/payload",
            json!({"payload": {"a": 1}}),
            400,
            "invalid_request",
        ),
        (
            post.clone(),
            "/p/points/payload/delete",
            json!({"keys": ["g"]}),
            400,
            "invalid_request",
        ),
        (
            post.clone(),
            "/p/points/payload",
            json!({"payload": {"a": 1}, "ids": [1], "filter": {"must": []}}),
            400,
            "invalid_request",
        ),
        (
            post.clone(),
            "/p/points/payload",
            json!({"payload": [1, 2], "ids": [1]}),
            400,
            "invalid_payload",
        ),
        (
            put.clone(),
            "/p/points/payload",
            json!({"payload": "x", "ids": [1]}),
            400,
            "invalid_payload",
        ),
        (
            put.clone(),
            "/p/points/payload",
            json!({"payload": null, "ids": [1]}),
            400,
            "invalid_payload",
        ),
        (
            post.clone(),
            "/p/points/payload",
            json!({"ids": [1]}),
            400,
            "invalid_json",
        ),
        (
            post.clone(),
            "/p/points/payload",
            json!({"payload": {"big": big}, "ids": [1]}),
            413,
            "payload_too_large",
        ),
        (
            post.clone(),
            "/nope/points/payload",
            json!({"payload": {}, "ids": [1]}),
            404,
            "collection_not_found",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (got, v) = rest.call(method.clone(), path, Some(body.clone())).await;
        assert_eq!(
            (got, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path} {body}: {v}"
        );
    }
    let after = rest
        .post("/p/points/get", json!({"ids": [0, 1, 2, "s0009"]}))
        .await;
    assert_eq!(before, after);
    let c = rest.post("/p/points/count", json!({})).await;
    assert_eq!(c["count"], json!(60));
}
