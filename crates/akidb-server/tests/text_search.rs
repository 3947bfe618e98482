//! Full-text and hybrid search over the real binary (issue #16): a collection created
//! with a text index, the `text` filter condition in search, scroll and count, BM25 and
//! hybrid (`rrf`, `weighted`) queries over sealed and mutable segments, deleted points
//! left out, the index back after `kill -9`, gRPC, and bad input answered 4xx.

mod common;

use akidb_proto::v1 as pb;
use common::{Rest, Server};
use serde_json::{json, Value};

impl Rest {
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        self.call(method, path, Some(body)).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.ok(reqwest::Method::POST, path, Some(body)).await
    }
}

fn ids(v: &Value, field: &str) -> Vec<u64> {
    v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_u64().unwrap())
        .collect()
}

const TEXTS: [&str; 12] = [
    "the quick brown fox jumps over the lazy dog",
    "a lazy afternoon in the garden",
    "foxes are quick and clever animals",
    "python list comprehension examples",
    "reading files in python with open",
    "the dog barks at the mailman",
    "quick sort and merge sort in python",
    "brown bread recipe",
    "connection pooling for databases",
    "the fox and the hound",
    "garden tools and a brown shed",
    "asynchronous python with asyncio",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_index_bm25_and_hybrid_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments: the 12 points span sealed segments and the mutable one.
    let mut server = Server::start(
        &dir.path().join("data"),
        &[("AKIDB_SEGMENT_MAX_POINTS", "5")],
    )
    .await;
    let rest = Rest::new(&server, "/api/v1/collections");
    let (status, v) = rest.send(reqwest::Method::POST,
        "",
        json!({"name":"t","dimension":2,"metric":"l2",
               "text_index":{"key":"text","tokenizer":"word","lowercase":true,"stemmer":"english"}}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["text_index"]["key"], json!("text"));
    assert_eq!(v["text_index"]["stemmer"], json!("english"));
    let pts: Vec<Value> = TEXTS
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"id": i, "vector": [i as f32, 0.0], "payload": {"text": t, "i": i}}))
        .collect();
    let (status, v) = rest
        .send(reqwest::Method::PUT, "/t/points", json!({"points": pts}))
        .await;
    assert_eq!(status, 200, "{v}");
    let got = rest.send(reqwest::Method::GET, "/t", Value::Null).await.1;
    assert_eq!(got["text_index"]["key"], json!("text"));

    // The text filter: every word must be there (stemmed: "foxes" meets "fox").
    let f = json!({"must":[{"text":{"key":"text","query":"Quick FOX"}}]});
    let c = rest.post("/t/points/count", json!({"filter": f})).await;
    assert_eq!(c["count"], json!(2), "docs 0 and 2");
    let page = rest
        .post("/t/points/scroll", json!({"filter": f, "limit": 10}))
        .await;
    assert_eq!(ids(&page, "points"), [0, 2]);
    let hits = rest
        .post(
            "/t/search",
            json!({"vector":[9.0, 0.0], "k": 5, "filter": f}),
        )
        .await;
    assert_eq!(ids(&hits, "hits"), [2, 0]);

    // BM25 alone: the rare word "hound" wins; all matches, none without a query word.
    let hits = rest
        .post(
            "/t/search",
            json!({"query":{"text":{"key":"text","query":"fox hound"}},"k":10}),
        )
        .await;
    let got = ids(&hits, "hits");
    assert_eq!(got[0], 9, "{hits}");
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 2, 9]);
    let scores: Vec<f64> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(hits["hits"][0]["payload"]["i"], json!(9));

    // BM25 with a filter.
    let hits = rest
        .post(
            "/t/search",
            json!({"query":{"text":{"query":"python"}},"k":10,
               "filter":{"must":[{"key":"i","range":{"gte":5}}]}}),
        )
        .await;
    let mut got = ids(&hits, "hits");
    got.sort();
    assert_eq!(got, [6, 11]);

    // Hybrid: the vector alone prefers id 11 (nearest to [11, 0]); the text pulls "brown"
    // documents up. Both fusions answer k hits, best first.
    for fusion in ["rrf", "weighted"] {
        let hits = rest.post("/t/search",
            json!({"query":{"hybrid":{"vector":[11.0, 0.0],"text":"brown shed","fusion":fusion,"alpha":0.5}},"k":3}),
        )
        .await;
        let got = ids(&hits, "hits");
        assert_eq!(got.len(), 3, "{fusion}: {hits}");
        assert_eq!(got[0], 10, "{fusion}: near and about a brown shed: {hits}");
    }

    // A deleted point is gone from BM25 and the text filter at once.
    rest.post("/t/points/delete", json!({"ids":[9]})).await;
    let hits = rest
        .post("/t/search", json!({"query":{"text":{"query":"hound"}}}))
        .await;
    assert_eq!(ids(&hits, "hits"), Vec::<u64>::new());
    // A payload update re-indexes the text.
    rest.post(
        "/t/points/payload",
        json!({"payload":{"text":"an old hound"},"ids":[11]}),
    )
    .await;
    let hits = rest
        .post("/t/search", json!({"query":{"text":{"query":"hound"}}}))
        .await;
    assert_eq!(ids(&hits, "hits"), [11]);

    // kill -9: the text index is rebuilt from the recovered payloads.
    server.restart().await;
    let rest = Rest::new(&server, "/api/v1/collections");
    let hits = rest
        .post("/t/search", json!({"query":{"text":{"query":"hound"}}}))
        .await;
    assert_eq!(ids(&hits, "hits"), [11]);
    let c = rest.post("/t/points/count", json!({"filter": f})).await;
    assert_eq!(c["count"], json!(2));
    let hits = rest
        .post(
            "/t/search",
            json!({"query":{"hybrid":{"vector":[0.0, 0.0],"text":"lazy dog"}},"k":2}),
        )
        .await;
    assert_eq!(ids(&hits, "hits")[0], 0, "{hits}");

    // gRPC carries the text index and the query as JSON text.
    let mut cols = pb::collections_client::CollectionsClient::connect(server.grpc.clone())
        .await
        .unwrap();
    let c = cols
        .create(pb::CreateCollectionRequest {
            name: "g".into(),
            dimension: 2,
            metric: "l2".into(),
            text_index_json: json!({"key":"body"}).to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        c.text_index_json.contains("\"body\""),
        "{}",
        c.text_index_json
    );
    let got = cols
        .get(pb::CollectionName { name: "t".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(got.text_index_json.contains("english"));
    let mut points = pb::points_client::PointsClient::connect(server.grpc.clone())
        .await
        .unwrap();
    let res = points
        .search(pb::SearchRequest {
            collection: "t".into(),
            k: Some(1),
            query_json: json!({"text":{"query":"hound"}}).to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.hits.len(), 1);
    let err = points
        .search(pb::SearchRequest {
            collection: "t".into(),
            query_json: json!({"text":{"key":"nope","query":"hound"}}).to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // Bad input: 4xx with a code that says what is wrong.
    let (s, _) = rest
        .send(
            reqwest::Method::POST,
            "",
            json!({"name":"plain","dimension":2,"metric":"l2"}),
        )
        .await;
    assert_eq!(s, 201);
    for (path, body, code) in [
        (
            "/plain/search",
            json!({"query":{"text":{"query":"fox"}}}),
            "text_index_missing",
        ),
        (
            "/plain/points/count",
            json!({"filter":{"must":[{"text":{"key":"text","query":"fox"}}]}}),
            "text_index_missing",
        ),
        (
            "/t/search",
            json!({"query":{"text":{"key":"body","query":"fox"}}}),
            "unknown_text_key",
        ),
        (
            "/t/points/scroll",
            json!({"filter":{"must":[{"text":{"key":"title","query":"fox"}}]}}),
            "unknown_text_key",
        ),
        (
            "/t/search",
            json!({"query":{"text":{"query":" ... "}}}),
            "invalid_text_query",
        ),
        (
            "/t/search",
            json!({"query":{"hybrid":{"vector":[1.0,0.0],"text":""}}}),
            "invalid_text_query",
        ),
        (
            "/t/search",
            json!({"query":{"hybrid":{"vector":[1.0,0.0],"text":"fox","fusion":"max"}}}),
            "invalid_json",
        ),
        (
            "/t/search",
            json!({"query":{"hybrid":{"vector":[1.0,0.0,0.0],"text":"fox"}}}),
            "dimension_mismatch",
        ),
        (
            "/t/search",
            json!({"query":{"hybrid":{"vector":[1.0,0.0],"text":"fox","alpha":2}}}),
            "invalid_request",
        ),
        (
            "/t/search",
            json!({"vector":[1.0,0.0],"query":{"text":{"query":"fox"}}}),
            "invalid_request",
        ),
        (
            "/t/points/count",
            json!({"filter":{"must":[{"text":{"key":"text","query":"!!"}}]}}),
            "invalid_filter",
        ),
        (
            "",
            json!({"name":"bad","dimension":2,"metric":"l2","text_index":{"key":"text","stemmer":"klingon"}}),
            "invalid_text_index",
        ),
        (
            "",
            json!({"name":"bad","dimension":2,"metric":"l2","text_index":{"key":"text","tokenizer":"ngram"}}),
            "invalid_json",
        ),
    ] {
        let (status, v) = rest.send(reqwest::Method::POST, path, body.clone()).await;
        assert_eq!(status, 400, "{path} {body}: {v}");
        assert_eq!(v["error"]["code"], json!(code), "{path} {body}: {v}");
    }
}
