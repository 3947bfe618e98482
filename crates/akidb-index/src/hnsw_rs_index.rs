//! [`AnnIndex`] over the `hnsw_rs` crate (0.3.5): AkiDB's reference HNSW.
//!
//! `hnsw_rs` requires non-negative distances, so each metric gets a distance type
//! whose value is a monotonic, non-negative transform of AkiDB's internal
//! distance (the graph only ever compares distances); results are re-scored with
//! [`Metric::distance`]. Its dump neither fsyncs nor renames, so [`HnswRsIndex`]
//! dumps into a temporary directory, fsyncs the files, records their CRC32C in
//! `hnsw_rs.meta`, renames the directory into place and fsyncs the parent.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use akidb_core::{Error, Metric, Result};
use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::api::AnnT;
use hnsw_rs::hnsw::Hnsw;
use hnsw_rs::hnswio::HnswIo;

use crate::flat::TopK;
use crate::persist::fsync_dir;
use crate::{AnnIndex, Neighbor, Vectors};

/// Directory (inside the save dir) holding the `hnsw_rs` dump.
pub const HNSW_RS_DIR: &str = "hnsw_rs";
const BASENAME: &str = "graph";
const META: &str = "hnsw_rs.meta";

/// Maps a real distance to `[0, ∞)` keeping order: `1 + t` for `t ≥ 0`, `1 / (1 - t)` below.
#[inline]
fn non_negative(t: f32) -> f32 {
    if t >= 0.0 {
        1.0 + t
    } else {
        1.0 / (1.0 - t)
    }
}

/// `hnsw_rs` distance for cosine (1 − dot of unit vectors).
#[derive(Default, Clone, Copy)]
pub struct RsCosine;
/// `hnsw_rs` distance for squared L2.
#[derive(Default, Clone, Copy)]
pub struct RsL2;
/// `hnsw_rs` distance for negative inner product.
#[derive(Default, Clone, Copy)]
pub struct RsDot;

impl Distance<f32> for RsCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        non_negative(Metric::Cosine.distance(a, b))
    }
}
impl Distance<f32> for RsL2 {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        Metric::L2.distance(a, b)
    }
}
impl Distance<f32> for RsDot {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        non_negative(Metric::Dot.distance(a, b))
    }
}

enum Graph {
    Cosine(Hnsw<'static, f32, RsCosine>),
    L2(Hnsw<'static, f32, RsL2>),
    Dot(Hnsw<'static, f32, RsDot>),
}

macro_rules! with_graph {
    ($g:expr, $h:ident => $body:expr) => {
        match $g {
            Graph::Cosine($h) => $body,
            Graph::L2($h) => $body,
            Graph::Dot($h) => $body,
        }
    };
}

/// HNSW from the `hnsw_rs` crate behind [`AnnIndex`].
pub struct HnswRsIndex {
    vectors: Arc<Vectors>,
    graph: Graph,
    m: usize,
}

fn new_graph(metric: Metric, m: usize, n: usize, efc: usize) -> Graph {
    // hnsw_rs caps the layer count at 16; it wants an upper bound, not an exact value.
    let layers = 16;
    let n = n.max(1);
    match metric {
        Metric::Cosine => Graph::Cosine(Hnsw::new(m, n, layers, efc, RsCosine)),
        Metric::L2 => Graph::L2(Hnsw::new(m, n, layers, efc, RsL2)),
        Metric::Dot => Graph::Dot(Hnsw::new(m, n, layers, efc, RsDot)),
    }
}

impl HnswRsIndex {
    /// Builds over every row of `vectors` (parallel insert on rayon's pool).
    pub fn build(vectors: Arc<Vectors>, m: usize, ef_construction: usize) -> Self {
        let m = m.clamp(2, 256);
        let graph = new_graph(vectors.metric(), m, vectors.len(), ef_construction.max(m));
        let rows: Vec<(&[f32], usize)> = (0..vectors.len())
            .map(|i| (vectors.get(i as u32), i))
            .collect();
        with_graph!(&graph, h => {
            h.parallel_insert_slice(&rows);
        });
        let mut index = Self {
            vectors: vectors.clone(),
            graph,
            m,
        };
        with_graph!(&mut index.graph, h => h.set_searching_mode(true));
        index
    }

    /// Loads a dump written by [`AnnIndex::save`], verifying the recorded checksums first.
    pub fn load(vectors: Arc<Vectors>, dir: &Path) -> Result<Self> {
        let sub = dir.join(HNSW_RS_DIR);
        let meta_path = sub.join(META);
        let meta_text = fs::read_to_string(&meta_path).map_err(|e| {
            Error::io(
                format!("reading hnsw_rs index metadata {}", meta_path.display()),
                &e,
            )
        })?;
        let meta: serde_json::Value = serde_json::from_str(&meta_text).map_err(|e| {
            Error::corruption(format!("{} is not valid JSON: {e}", meta_path.display()))
        })?;
        let field = |k: &str| meta.get(k).and_then(|v| v.as_u64());
        let (rows, dim, m) = match (field("rows"), field("dim"), field("m")) {
            (Some(r), Some(d), Some(m)) => (r as usize, d as usize, m as usize),
            _ => {
                return Err(Error::corruption(format!(
                    "{} lacks rows/dim/m",
                    meta_path.display()
                )))
            }
        };
        if rows != vectors.len()
            || dim != vectors.dim()
            || meta.get("metric").and_then(|v| v.as_str()) != Some(vectors.metric().as_str())
        {
            return Err(Error::corruption(format!(
                "hnsw_rs index in {} was built for {rows} rows of dimension {dim}, the segment has {} of {}",
                sub.display(),
                vectors.len(),
                vectors.dim()
            )));
        }
        for ext in ["hnsw.graph", "hnsw.data"] {
            let name = format!("{BASENAME}.{ext}");
            let path = sub.join(&name);
            let bytes = fs::read(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), &e))?;
            let want = meta
                .get("crc32c")
                .and_then(|c| c.get(&name))
                .and_then(|v| v.as_u64());
            let got = crc32c::crc32c(&bytes) as u64;
            if want != Some(got) {
                return Err(Error::corruption(format!(
                    "hnsw_rs index file {} is corrupt: checksum {got:08x} does not match the recorded {}",
                    path.display(),
                    want.map_or("(none)".to_string(), |w| format!("{w:08x}"))
                )));
            }
        }
        // The loaded graph borrows its HnswIo for its whole life ('a: 'b); leaking the small
        // reader (no mmap, so it holds only two paths) gives the graph a 'static lifetime.
        let io: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(&sub, BASENAME)));
        let metric = vectors.metric();
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let io = io;
            load_graph(io, metric)
        }));
        let mut graph = match loaded {
            Ok(Ok(g)) => g,
            Ok(Err(e)) => {
                return Err(Error::corruption(format!(
                    "hnsw_rs index in {}: {e}",
                    sub.display()
                )))
            }
            Err(_) => {
                return Err(Error::corruption(format!(
                    "hnsw_rs index in {} could not be parsed",
                    sub.display()
                )))
            }
        };
        let n = with_graph!(&graph, h => h.get_nb_point());
        if n != rows {
            return Err(Error::corruption(format!(
                "hnsw_rs index in {} holds {n} points, expected {rows}",
                sub.display()
            )));
        }
        with_graph!(&mut graph, h => h.set_searching_mode(true));
        Ok(Self { vectors, graph, m })
    }
}

fn load_graph(io: &'static mut HnswIo, metric: Metric) -> std::result::Result<Graph, String> {
    Ok(match metric {
        Metric::Cosine => {
            Graph::Cosine(io.load_hnsw::<f32, RsCosine>().map_err(|e| e.to_string())?)
        }
        Metric::L2 => Graph::L2(io.load_hnsw::<f32, RsL2>().map_err(|e| e.to_string())?),
        Metric::Dot => Graph::Dot(io.load_hnsw::<f32, RsDot>().map_err(|e| e.to_string())?),
    })
}

impl AnnIndex for HnswRsIndex {
    fn len(&self) -> usize {
        self.vectors.len()
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Neighbor> {
        assert_eq!(query.len(), self.vectors.dim(), "query dimension mismatch");
        if k == 0 || self.vectors.is_empty() {
            return Vec::new();
        }
        let ef = ef.max(k);
        let filter = accept.map(|f| move |id: &usize| f(*id as u32));
        let found = with_graph!(&self.graph, h => match &filter {
            Some(f) => h.search_filter(query, k, ef, Some(f as &dyn hnsw_rs::filter::FilterT)),
            None => h.search(query, k, ef),
        });
        let mut top = TopK::new(k);
        for n in found {
            let offset = n.d_id as u32;
            if accept.is_none_or(|f| f(offset)) {
                top.push(Neighbor {
                    offset,
                    distance: self.vectors.distance_to(offset, query),
                });
            }
        }
        top.into_sorted()
    }

    fn memory_bytes(&self) -> usize {
        // Each point holds a copy of its vector plus m (2m at level 0) neighbour records.
        let n = self.vectors.len();
        n * (self.vectors.dim() * 4 + 3 * self.m * 32 + 128)
    }

    fn save(&self, dir: &Path) -> Result<Vec<String>> {
        fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), &e))?;
        let tmp = dir.join(format!("{HNSW_RS_DIR}.tmp"));
        let fin = dir.join(HNSW_RS_DIR);
        if tmp.exists() {
            fs::remove_dir_all(&tmp)
                .map_err(|e| Error::io(format!("removing {}", tmp.display()), &e))?;
        }
        fs::create_dir_all(&tmp)
            .map_err(|e| Error::io(format!("creating {}", tmp.display()), &e))?;
        let dumped = with_graph!(&self.graph, h => h.file_dump(&tmp, BASENAME)).map_err(|e| {
            Error::internal(format!("hnsw_rs dump into {} failed: {e}", tmp.display()))
        })?;
        if dumped != BASENAME {
            return Err(Error::internal(format!(
                "hnsw_rs dumped under '{dumped}' instead of '{BASENAME}'"
            )));
        }
        let mut crcs = serde_json::Map::new();
        let mut names = Vec::new();
        for ext in ["hnsw.graph", "hnsw.data"] {
            let name = format!("{BASENAME}.{ext}");
            let path = tmp.join(&name);
            let bytes = fs::read(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), &e))?;
            crcs.insert(
                name.clone(),
                serde_json::Value::from(crc32c::crc32c(&bytes) as u64),
            );
            fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(format!("fsync {}", path.display()), &e))?;
            names.push(format!("{HNSW_RS_DIR}/{name}"));
        }
        let meta = serde_json::json!({
            "format": "hnsw_rs-0.3.5",
            "rows": self.vectors.len(),
            "dim": self.vectors.dim(),
            "metric": self.vectors.metric().as_str(),
            "m": self.m,
            "crc32c": crcs,
        });
        crate::persist::write_durable(&tmp, META, meta.to_string().as_bytes())?;
        names.push(format!("{HNSW_RS_DIR}/{META}"));
        fsync_dir(&tmp)?;
        if fin.exists() {
            fs::remove_dir_all(&fin)
                .map_err(|e| Error::io(format!("removing old {}", fin.display()), &e))?;
        }
        fs::rename(&tmp, &fin).map_err(|e| Error::io(format!("renaming {}", tmp.display()), &e))?;
        fsync_dir(dir)?;
        Ok(names)
    }

    fn kind_name(&self) -> &'static str {
        "hnsw_rs"
    }
}
