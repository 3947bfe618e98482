//! Readers and writers for the evaluation datasets: NumPy `.npy` matrices and the
//! `base.jsonl` payloads, plus recall@k. Tests read the compact real subset committed
//! in `testdata/dev-pydoc-10k` ([`Dataset::test_subset_dir`]); benchmarks read the
//! full `dev-pydoc-50k` ([`Dataset::bench_dir`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
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

/// Reads a 2-D little-endian `.npy` file (v1/v2 header, C order) whose dtype is
/// `descr`, with `width` bytes per value.
fn read_npy_raw(path: &Path, descr: &str, width: usize) -> Result<(usize, usize, Vec<u8>)> {
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
    if data.len() != rows * cols * width {
        return Err(bad(
            path,
            format!(
                "expected {} bytes of data, found {}",
                rows * cols * width,
                data.len()
            ),
        ));
    }
    Ok((rows, cols, data))
}

/// Reads a float32 `.npy` matrix.
pub fn read_npy_f32(path: &Path) -> Result<Matrix<f32>> {
    let (rows, cols, raw) = read_npy_raw(path, "<f4", 4)?;
    let data = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
        .collect();
    Ok(Matrix { rows, cols, data })
}

/// Reads an int32 `.npy` matrix.
pub fn read_npy_i32(path: &Path) -> Result<Matrix<i32>> {
    let (rows, cols, raw) = read_npy_raw(path, "<i4", 4)?;
    let data = raw
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().expect("4")))
        .collect();
    Ok(Matrix { rows, cols, data })
}

/// Reads an int8 `.npy` matrix.
pub fn read_npy_i8(path: &Path) -> Result<Matrix<i8>> {
    let (rows, cols, raw) = read_npy_raw(path, "|i1", 1)?;
    let data = raw.into_iter().map(|b| b as i8).collect();
    Ok(Matrix { rows, cols, data })
}

/// A value type that `.npy` files store: its dtype string and little-endian bytes.
pub trait NpyValue: Copy {
    /// NumPy's dtype `descr`, e.g. `<f4`.
    const DESCR: &'static str;
    /// Appends the little-endian bytes of `self`.
    fn put(self, out: &mut Vec<u8>);
}

impl NpyValue for f32 {
    const DESCR: &'static str = "<f4";
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyValue for i32 {
    const DESCR: &'static str = "<i4";
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyValue for i8 {
    const DESCR: &'static str = "|i1";
    fn put(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
}

/// Writes a 2-D matrix as a `.npy` v1 file that NumPy and [`read_npy_f32`] & co. read.
pub fn write_npy<T: NpyValue>(path: &Path, m: &Matrix<T>) -> Result<()> {
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': ({}, {}), }}",
        T::DESCR,
        m.rows,
        m.cols
    );
    // NumPy pads the header with spaces to a multiple of 64 bytes, ending in '\n'.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + m.data.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in &m.data {
        v.put(&mut out);
    }
    File::create(path)
        .and_then(|mut f| f.write_all(&out))
        .map_err(|e| Error::io(format!("writing {}", path.display()), &e))
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
    /// The compact real subset committed in the repository (`testdata/dev-pydoc-10k`):
    /// what tests read, so that they need nothing outside the clone.
    pub fn test_subset_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dev-pydoc-10k")
    }

    /// The benchmarks' full set: `AKIDB_DATASET_DIR`, else
    /// `<workspace>/../shared/datasets/dev-pydoc-50k` (the team's copy beside the clone).
    pub fn bench_dir() -> PathBuf {
        std::env::var_os("AKIDB_DATASET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/dev-pydoc-50k")
            })
    }

    /// Reads the benchmarks' full set, or says how to get one when it is absent.
    pub fn load_bench() -> Result<Self> {
        let dir = Self::bench_dir();
        Self::load(&dir).map_err(|e| {
            Error::invalid(
                "invalid_dataset",
                format!(
                    "benchmark dataset not readable at {} ({e}); set AKIDB_DATASET_DIR to a \
                     dev-pydoc-50k directory (layout in testdata/dev-pydoc-10k/README.md), or \
                     to testdata/dev-pydoc-10k for a quick run on the committed subset",
                    dir.display()
                ),
            )
        })
    }

    /// Reads every file of the dataset in `dir`. Base vectors are either float32
    /// (`base.f32.npy`) or int8 codes with one scale per row (`base.i8.npy` +
    /// `base.scale.f32.npy`, value = code × scale), as the committed subset stores them.
    pub fn load(dir: &Path) -> Result<Self> {
        let f32_path = dir.join("base.f32.npy");
        let base = if f32_path.exists() {
            read_npy_f32(&f32_path)?
        } else {
            let codes = read_npy_i8(&dir.join("base.i8.npy"))?;
            let scales = read_npy_f32(&dir.join("base.scale.f32.npy"))?;
            if scales.rows != codes.rows || scales.cols != 1 {
                return Err(bad(dir, "base.scale.f32.npy must hold one scale per row"));
            }
            let data = codes
                .data
                .chunks_exact(codes.cols)
                .zip(&scales.data)
                .flat_map(|(row, &s)| row.iter().map(move |&c| c as f32 * s))
                .collect();
            Matrix {
                rows: codes.rows,
                cols: codes.cols,
                data,
            }
        };
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
