//! Makes the compact real subset that tests read (`testdata/dev-pydoc-10k`) from the
//! full `dev-pydoc-50k` set, deterministically: the first 10,000 base rows as int8 codes
//! with one scale per row, the first 200 queries as float32, and their exact cosine
//! top-100 recomputed over the stored (dequantized) rows.
//!
//! ```text
//! cargo run --release -p akidb-index --example make_test_subset -- [SRC] [DST]
//! ```
//! SRC defaults to `Dataset::bench_dir()`, DST to `Dataset::test_subset_dir()`.

use std::fs;
use std::path::PathBuf;

use akidb_index::dataset::{read_npy_f32, recall_at, write_npy, Dataset, Matrix};

const BASE_ROWS: usize = 10_000;
const QUERY_ROWS: usize = 200;
const TOP: usize = 100;

fn main() {
    let mut args = std::env::args().skip(1);
    let src = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(Dataset::bench_dir);
    let dst = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(Dataset::test_subset_dir);
    let base = read_npy_f32(&src.join("base.f32.npy")).expect("base.f32.npy");
    let queries = read_npy_f32(&src.join("queries.f32.npy")).expect("queries.f32.npy");
    let dim = base.cols;
    fs::create_dir_all(&dst).expect("create the destination");

    // int8 with a per-row scale: 4× smaller than float32, and the rounding error
    // (≤ scale/2 per component) is far below the gaps between real neighbours.
    let mut codes = Vec::with_capacity(BASE_ROWS * dim);
    let mut scales = Vec::with_capacity(BASE_ROWS);
    let mut stored: Vec<Vec<f32>> = Vec::with_capacity(BASE_ROWS);
    for i in 0..BASE_ROWS {
        let row = base.row(i);
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        let q: Vec<i8> = row
            .iter()
            .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        stored.push(unit(q.iter().map(|&c| c as f32 * scale).collect()));
        codes.extend(q);
        scales.push(scale);
    }
    let query_data: Vec<f32> = queries.data[..QUERY_ROWS * dim].to_vec();

    let original: Vec<Vec<f32>> = (0..BASE_ROWS).map(|i| unit(base.row(i).to_vec())).collect();
    let mut truth = Vec::with_capacity(QUERY_ROWS * TOP);
    let mut agreement = 0.0;
    for qi in 0..QUERY_ROWS {
        let q = unit(query_data[qi * dim..(qi + 1) * dim].to_vec());
        let top = exact_top(&stored, &q);
        // How far int8 moved the answer: overlap with the float32 rows' top-10.
        let float_top = exact_top(&original, &q);
        agreement += recall_at(&as_u32(&top[..10]), &as_u32(&float_top[..10]), 10);
        truth.extend(top);
    }
    println!(
        "top-10 over the int8 rows vs the float32 rows: {:.4} agreement",
        agreement / QUERY_ROWS as f64
    );

    write_npy(&dst.join("base.i8.npy"), &matrix(BASE_ROWS, dim, codes)).unwrap();
    write_npy(
        &dst.join("base.scale.f32.npy"),
        &matrix(BASE_ROWS, 1, scales),
    )
    .unwrap();
    write_npy(
        &dst.join("queries.f32.npy"),
        &matrix(QUERY_ROWS, dim, query_data),
    )
    .unwrap();
    write_npy(
        &dst.join("gt_cosine_top100.npy"),
        &matrix(QUERY_ROWS, TOP, truth),
    )
    .unwrap();
    for name in ["base.jsonl", "queries.jsonl"] {
        let rows = if name == "base.jsonl" {
            BASE_ROWS
        } else {
            QUERY_ROWS
        };
        let text = fs::read_to_string(src.join(name)).expect(name);
        let kept: String = text.lines().take(rows).map(|l| format!("{l}\n")).collect();
        fs::write(dst.join(name), kept).expect(name);
    }
    // The subset must load through the same reader the tests use.
    let ds = Dataset::load(&dst).expect("the written subset loads");
    println!(
        "wrote {} ({} base rows, {} queries)",
        dst.display(),
        ds.base.rows,
        ds.queries.rows
    );
}

/// Exact cosine top-`TOP` row indices of unit `rows` for unit `q`, best first; ties
/// by row index so the file is the same on every machine.
fn exact_top(rows: &[Vec<f32>], q: &[f32]) -> Vec<i32> {
    let mut scored: Vec<(f32, i32)> = rows
        .iter()
        .enumerate()
        .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum(), i as i32))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored[..TOP].iter().map(|&(_, i)| i).collect()
}

fn as_u32(v: &[i32]) -> Vec<u32> {
    v.iter().map(|&i| i as u32).collect()
}

fn matrix<T>(rows: usize, cols: usize, data: Vec<T>) -> Matrix<T> {
    Matrix { rows, cols, data }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}
