//! The web console at `/console`: three static files embedded in the binary (no Node, no
//! build step), served without authentication because they hold no data; the page asks
//! for the API key once and sends it with every API call (docs/console.md).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// The console's files: path under `/console`, content type, bytes.
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/console/",
        "text/html; charset=utf-8",
        include_str!("../console/index.html"),
    ),
    (
        "/console/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/app.js"),
    ),
    (
        "/console/style.css",
        "text/css; charset=utf-8",
        include_str!("../console/style.css"),
    ),
];

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // The files change with the binary only; a short cache keeps upgrades visible.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Routes of the console, to merge into the REST router (any state).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route(
        "/console",
        get(|| async { Redirect::permanent("/console/") }),
    );
    for &(path, content_type, body) in ASSETS {
        router = router.route(path, get(move || async move { asset(content_type, body) }));
    }
    router
}
