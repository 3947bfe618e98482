//! A local HTTP server playing the parts of the GitHub REST API the release uses. It records
//! every request and answers like GitHub: 404 JSON errors, 422 `already_exists` for duplicate
//! tags or asset names, `upload_url` pointing at its own `/uploads` prefix, 401 without a
//! token. Like GitHub, "get a release by tag" does not see drafts (404) while "list
//! releases" does. [`FakeGitHub::fail_upload_once`] makes one upload fail the way an
//! interrupted upload does on GitHub: the name stays taken by a broken (`starter`) asset.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One stored release.
#[derive(Debug, Clone)]
pub struct Release {
    pub id: u64,
    pub tag: String,
    pub name: String,
    pub body: String,
    pub draft: bool,
    pub commitish: String,
    pub assets: Vec<Asset>,
}

/// One uploaded asset.
#[derive(Debug, Clone)]
pub struct Asset {
    pub id: u64,
    pub name: String,
    pub data: Vec<u8>,
    /// `uploaded`, or `starter` for an interrupted upload.
    pub state: String,
}

/// Everything the fake saw and holds.
#[derive(Debug, Default)]
pub struct Gh {
    pub requests: Vec<(String, String)>,
    pub releases: Vec<Release>,
    pub webhooks: Vec<Value>,
    /// Asset names whose next upload fails (see [`FakeGitHub::fail_upload_once`]).
    pub fail_uploads: Vec<String>,
    /// Pull requests: `{number, head, base, title, body, state}`.
    pub pulls: Vec<Value>,
    next_id: u64,
}

/// The running fake.
pub struct FakeGitHub {
    pub url: String,
    pub state: Arc<Mutex<Gh>>,
}

impl FakeGitHub {
    /// Starts on a free loopback port, serving `owner/repo`.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(Gh {
            next_id: 1,
            ..Gh::default()
        }));
        let (st, base) = (state.clone(), url.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (st, base) = (st.clone(), base.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &st, &base);
                });
            }
        });
        FakeGitHub { url, state }
    }

    /// Number of recorded requests.
    pub fn request_count(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }

    /// Count of recorded requests with this method whose path (query stripped) equals
    /// `needle`, or starts with it when it ends in `/`.
    pub fn count(&self, method: &str, needle: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|(m, p)| {
                let path = p.split('?').next().unwrap_or("");
                m == method
                    && if needle.ends_with('/') {
                        path.starts_with(needle)
                    } else {
                        path == needle
                    }
            })
            .count()
    }

    /// Pull requests opened so far (`{number, head, base, title, body, state}`).
    pub fn pulls(&self) -> Vec<Value> {
        self.state.lock().unwrap().pulls.clone()
    }

    /// Bodies posted to `/webhook`.
    pub fn webhooks(&self) -> Vec<Value> {
        self.state.lock().unwrap().webhooks.clone()
    }

    /// The next upload of `name` fails with 400 and leaves a broken `starter` asset of that
    /// name behind, as an interrupted upload does on GitHub.
    pub fn fail_upload_once(&self, name: &str) {
        self.state
            .lock()
            .unwrap()
            .fail_uploads
            .push(name.to_string());
    }

    /// Snapshot of the stored releases.
    pub fn releases(&self) -> Vec<Release> {
        self.state.lock().unwrap().releases.clone()
    }
}

fn serve(mut conn: TcpStream, st: &Mutex<Gh>, base: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut len = 0usize;
    let mut auth = None;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "authorization" => auth = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let (status, resp) = handle(st, base, &method, &target, auth.as_deref(), &body);
    let text = serde_json::to_string(&resp).unwrap();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Unprocessable Entity",
    };
    let payload = if status == 204 { String::new() } else { text };
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )?;
    conn.flush()
}

fn err(status: u16, message: &str) -> (u16, Value) {
    (
        status,
        json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": status.to_string()}),
    )
}

fn release_json(base: &str, r: &Release) -> Value {
    json!({
        "url": format!("{base}/repos/o/r/releases/{}", r.id),
        "html_url": format!("https://github.com/o/r/releases/tag/{}", r.tag),
        "assets_url": format!("{base}/repos/o/r/releases/{}/assets", r.id),
        "upload_url": format!("{base}/uploads/repos/o/r/releases/{}/assets{{?name,label}}", r.id),
        "tarball_url": null,
        "zipball_url": null,
        "id": r.id,
        "node_id": format!("RE_{}", r.id),
        "tag_name": r.tag,
        "target_commitish": r.commitish,
        "name": r.name,
        "body": r.body,
        "draft": r.draft,
        "prerelease": false,
        "created_at": "2026-01-01T00:00:00Z",
        "published_at": if r.draft { Value::Null } else { json!("2026-01-01T00:00:00Z") },
        "author": null,
        "assets": r.assets.iter().map(|a| asset_json(base, r, a)).collect::<Vec<_>>(),
    })
}

fn asset_json(base: &str, r: &Release, a: &Asset) -> Value {
    json!({
        "url": format!("{base}/repos/o/r/releases/assets/{}", a.id),
        "browser_download_url": format!("https://github.com/o/r/releases/download/{}/{}", r.tag, a.name),
        "id": a.id,
        "node_id": format!("RA_{}", a.id),
        "name": a.name,
        "label": null,
        "state": a.state,
        "content_type": "application/octet-stream",
        "size": a.data.len(),
        "digest": null,
        "download_count": 0,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "uploader": null,
    })
}

fn handle(
    st: &Mutex<Gh>,
    base: &str,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let mut g = st.lock().unwrap();
    g.requests.push((method.to_string(), target.to_string()));
    // The announcement webhook lives on the same server for convenience.
    if method == "POST" && target == "/webhook" {
        let v = serde_json::from_slice(body).unwrap_or(Value::Null);
        g.webhooks.push(v);
        return (200, json!({"ok": true}));
    }
    if !auth
        .map(|a| a.starts_with("Bearer ") || a.starts_with("token "))
        .unwrap_or(false)
    {
        return err(401, "Requires authentication");
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let find = |g: &Gh, id: &str| g.releases.iter().position(|r| r.id.to_string() == id);
    match (method, seg.as_slice()) {
        // GitHub: drafts are not found by tag (they have no tag yet), only by listing.
        ("GET", ["repos", _, _, "releases", "tags", tag]) => {
            match g.releases.iter().find(|r| r.tag == *tag && !r.draft) {
                Some(r) => (200, release_json(base, r)),
                None => err(404, "Not Found"),
            }
        }
        // Newest first, drafts included; one page is enough for the tests.
        ("GET", ["repos", _, _, "releases"]) => (
            200,
            json!(g
                .releases
                .iter()
                .rev()
                .map(|r| release_json(base, r))
                .collect::<Vec<_>>()),
        ),
        ("POST", ["repos", _, _, "releases"]) => {
            let tag = input["tag_name"].as_str().unwrap_or("").to_string();
            // Only a published release owns its tag; drafts of one tag may pile up.
            if g.releases.iter().any(|r| r.tag == tag && !r.draft) {
                return (
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "Release", "code": "already_exists", "field": "tag_name"}]}),
                );
            }
            let id = g.next_id;
            g.next_id += 1;
            let r = Release {
                id,
                tag,
                name: input["name"].as_str().unwrap_or("").into(),
                body: input["body"].as_str().unwrap_or("").into(),
                draft: input["draft"].as_bool().unwrap_or(false),
                commitish: input["target_commitish"].as_str().unwrap_or("main").into(),
                assets: Vec::new(),
            };
            let v = release_json(base, &r);
            g.releases.push(r);
            (201, v)
        }
        ("GET", ["repos", _, _, "releases", id]) => match find(&g, id) {
            Some(i) => (200, release_json(base, &g.releases[i])),
            None => err(404, "Not Found"),
        },
        ("PATCH", ["repos", _, _, "releases", id]) => match find(&g, id) {
            Some(i) => {
                let r = &mut g.releases[i];
                if let Some(v) = input["name"].as_str() {
                    r.name = v.into();
                }
                if let Some(v) = input["body"].as_str() {
                    r.body = v.into();
                }
                if let Some(v) = input["draft"].as_bool() {
                    r.draft = v;
                }
                (200, release_json(base, &g.releases[i]))
            }
            None => err(404, "Not Found"),
        },
        ("DELETE", ["repos", _, _, "releases", "assets", aid]) => {
            for r in g.releases.iter_mut() {
                if let Some(p) = r.assets.iter().position(|a| a.id.to_string() == *aid) {
                    r.assets.remove(p);
                    return (204, Value::Null);
                }
            }
            err(404, "Not Found")
        }
        ("DELETE", ["repos", _, _, "releases", id]) => match find(&g, id) {
            Some(i) => {
                g.releases.remove(i);
                (204, Value::Null)
            }
            None => err(404, "Not Found"),
        },
        ("GET", ["repos", _, _, "releases", id, "assets"]) => match find(&g, id) {
            Some(i) => {
                let r = &g.releases[i];
                (
                    200,
                    json!(r
                        .assets
                        .iter()
                        .map(|a| asset_json(base, r, a))
                        .collect::<Vec<_>>()),
                )
            }
            None => err(404, "Not Found"),
        },
        ("POST", ["uploads", "repos", _, _, "releases", id, "assets"]) => {
            let name = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("name="))
                .unwrap_or("")
                .to_string();
            let aid = g.next_id;
            g.next_id += 1;
            match find(&g, id) {
                Some(i) => {
                    if name.is_empty() || g.releases[i].assets.iter().any(|a| a.name == name) {
                        return (
                            422,
                            json!({"message": "Validation Failed", "errors": [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}]}),
                        );
                    }
                    if let Some(p) = g.fail_uploads.iter().position(|n| *n == name) {
                        g.fail_uploads.remove(p);
                        let half = body[..body.len() / 2].to_vec();
                        g.releases[i].assets.push(Asset {
                            id: aid,
                            name,
                            data: half,
                            state: "starter".into(),
                        });
                        return err(400, "Upload interrupted");
                    }
                    let a = Asset {
                        id: aid,
                        name,
                        data: body.to_vec(),
                        state: "uploaded".into(),
                    };
                    let v = asset_json(base, &g.releases[i], &a);
                    g.releases[i].assets.push(a);
                    (201, v)
                }
                None => err(404, "Not Found"),
            }
        }
        // Pull requests, as far as the release needs them: open one (422 when an open one
        // has the same head, as GitHub answers), and list the open ones filtered by `head`
        // (`owner:branch`).
        ("POST", ["repos", owner, _, "pulls"]) => {
            let head = input["head"].as_str().unwrap_or("").to_string();
            let base_branch = input["base"].as_str().unwrap_or("").to_string();
            if head.is_empty() || base_branch.is_empty() {
                return err(422, "Validation Failed: head and base are required");
            }
            let bare = head
                .split_once(':')
                .map_or(head.as_str(), |(_, b)| b)
                .to_string();
            if g.pulls
                .iter()
                .any(|p| p["head"] == json!(bare) && p["state"] == "open")
            {
                return (
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {owner}:{bare}.")}]}),
                );
            }
            let number = g.next_id;
            g.next_id += 1;
            let pr = json!({"number": number, "head": bare, "base": base_branch,
                "title": input["title"], "body": input["body"], "state": "open",
                "html_url": format!("https://github.com/{owner}/r/pull/{number}")});
            g.pulls.push(pr.clone());
            (201, pr_json(&pr))
        }
        ("GET", ["repos", _, _, "pulls"]) => {
            let want = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("head="))
                .map(percent_decode);
            let open: Vec<Value> = g
                .pulls
                .iter()
                .filter(|p| p["state"] == "open")
                .filter(|p| match &want {
                    Some(h) => h.split_once(':').map_or(h.as_str(), |(_, b)| b) == p["head"],
                    None => true,
                })
                .map(pr_json)
                .collect();
            (200, json!(open))
        }
        _ => err(404, "Not Found"),
    }
}

/// Decodes `%XX` escapes of a query value (octocrab escapes `:` and `/`).
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A stored pull request in GitHub's shape (`head`/`base` as objects with `ref`).
fn pr_json(p: &Value) -> Value {
    json!({"number": p["number"], "state": p["state"], "title": p["title"], "body": p["body"],
           "html_url": p["html_url"], "head": {"ref": p["head"]}, "base": {"ref": p["base"]}})
}
