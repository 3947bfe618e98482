//! Readers for the evaluation datasets (`dev-pydoc-50k`): NumPy `.npy` matrices
//! and the `base.jsonl` payloads, plus recall@k. Used by tests and benchmarks.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use akidb_core::{Error, Payload, Result};

/// A row-major matrix read from a `.npy` file.
#[derive(Debug, Clone)]
pub struct Matrix<T> {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` values, row-major.
    pub data: Vec<T>,
}

impl<T> Matrix<T> {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

fn bad(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::invalid("invalid_dataset", format!("{}: {what}", path.display()))
}

/// Reads a 2-D little-endian `.npy` file (v1/v2 header, C order) whose dtype is `descr`.
fn read_npy_raw(path: &Path, descr: &str) -> Result<(usize, usize, Vec<u8>)> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::io(format!("reading {}", path.display()), &e))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad(path, "not a .npy file"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().expect("4")) as usize,
            12,
        ),
        v => return Err(bad(path, format!("unsupported .npy version {v}"))),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + hlen)
            .ok_or_else(|| bad(path, "truncated header"))?,
    )
    .map_err(|_| bad(path, "header is not UTF-8"))?;
    if !header.contains(&format!("'descr': '{descr}'")) {
        return Err(bad(
            path,
            format!("expected dtype {descr}, header is {header}"),
        ));
    }
    if header.contains("'fortran_order': True") {
        return Err(bad(path, "Fortran order is not supported"));
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad(path, "no shape in header"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| bad(path, format!("bad shape {shape}")))
        })
        .collect::<Result<_>>()?;
    let (rows, cols) = match dims[..] {
        [r, c] => (r, c),
        [r] => (r, 1),
        _ => {
            return Err(bad(
                path,
                format!("expected a 2-D array, shape is ({shape})"),
            ))
        }
    };
    let data = bytes.split_off(start + hlen);
    if data.len() != rows * cols * 4 {
        return Err(bad(
            path,
            format!(
                "expected {} bytes of data, found {}",
                rows * cols * 4,
                data.len()
            ),
        ));
    }
    Ok((rows, cols, data))
}

/// Reads a float32 `.npy` matrix.
pub fn read_npy_f32(path: &Path) -> Result<Matrix<f32>> {
    let (rows, cols, raw) = read_npy_raw(path, "<f4")?;
    let data = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
        .collect();
    Ok(Matrix { rows, cols, data })
}

/// Reads an int32 `.npy` matrix.
pub fn read_npy_i32(path: &Path) -> Result<Matrix<i32>> {
    let (rows, cols, raw) = read_npy_raw(path, "<i4")?;
    let data = raw
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().expect("4")))
        .collect();
    Ok(Matrix { rows, cols, data })
}

/// Reads a JSON-lines file of objects (one payload per line).
pub fn read_jsonl(path: &Path) -> Result<Vec<Payload>> {
    let f = File::open(path).map_err(|e| Error::io(format!("reading {}", path.display()), &e))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io(format!("reading {}", path.display()), &e))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(serde_json::Value::Object(m)) => out.push(m),
            _ => return Err(bad(path, format!("line {} is not a JSON object", i + 1))),
        }
    }
    Ok(out)
}

/// The `dev-pydoc-50k` dataset: base vectors, queries, exact cosine top-100, payloads.
pub struct Dataset {
    /// Where it was read from.
    pub dir: PathBuf,
    /// Base vectors (unit length).
    pub base: Matrix<f32>,
    /// Query vectors.
    pub queries: Matrix<f32>,
    /// Per query, base rows by exact cosine, best first.
    pub ground_truth: Matrix<i32>,
    /// Per base row: `id`, `text`, `section`, `page`.
    pub payloads: Vec<Payload>,
}

impl Dataset {
    /// `AKIDB_DATASET_DIR`, else `<workspace>/../shared/datasets/dev-pydoc-50k`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("AKIDB_DATASET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/dev-pydoc-50k")
            })
    }

    /// Reads every file of the dataset in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let base = read_npy_f32(&dir.join("base.f32.npy"))?;
        let queries = read_npy_f32(&dir.join("queries.f32.npy"))?;
        let ground_truth = read_npy_i32(&dir.join("gt_cosine_top100.npy"))?;
        let payloads = read_jsonl(&dir.join("base.jsonl"))?;
        if queries.cols != base.cols
            || payloads.len() != base.rows
            || ground_truth.rows != queries.rows
        {
            return Err(bad(dir, "files disagree on shapes"));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            base,
            queries,
            ground_truth,
            payloads,
        })
    }
}

/// |found ∩ truth[..k]| / k for one query (truth holds at least k entries when possible).
pub fn recall_at(found: &[u32], truth: &[u32], k: usize) -> f64 {
    let k_eff = k.min(truth.len());
    if k_eff == 0 {
        return 1.0;
    }
    let t = &truth[..k_eff];
    found.iter().take(k).filter(|f| t.contains(f)).count() as f64 / k_eff as f64
}
