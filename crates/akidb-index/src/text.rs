//! The full-text index of one segment and BM25 scoring.
//!
//! A [`TextIndex`] holds, for the payload key named by a [`TextIndexConfig`], an
//! inverted list per term (`term → [(offset, term frequency)]`) and the length in
//! terms of every row's text. Rows without text at the key have length 0 and appear
//! in no list. The text of a row is every string found at the key (a string or a
//! list of strings), analysed by [`TextIndexConfig::tokenize`], the same function
//! the `text` filter condition uses row by row, so both always agree.
//!
//! BM25 needs collection-wide statistics (live documents `N`, average length
//! `avgdl`, document frequency `df` of each query term) so that scores from
//! different segments compare: the caller sums [`TextIndex::live_stats`] and
//! [`TextIndex::df`] over its segments (both skip tombstoned rows) into a
//! [`Bm25`] and then scores each segment with [`TextIndex::score`].
//!
//! `score(d) = Σ_t idf(t) · tf·(k1+1) / (tf + k1·(1 − b + b·|d|/avgdl))`, with
//! `idf(t) = ln(1 + (N − df + 0.5)/(df + 0.5))` (Lucene's form, never negative),
//! `k1 = 1.2`, `b = 0.75`. A query term counts once however often it is repeated.
//!
//! The index is not written to disk: like the payload index it is rebuilt from the
//! payloads (which snapshots persist) when a segment is loaded or first searched.

use std::collections::HashMap;

use akidb_core::filter::values_at;
use akidb_core::{Payload, TextIndexConfig};
use serde_json::Value;

use crate::Bitset;

/// BM25 term-frequency saturation.
pub const BM25_K1: f32 = 1.2;
/// BM25 length normalisation.
pub const BM25_B: f32 = 0.75;

/// Inverted lists and row lengths of one segment's text.
#[derive(Debug, Clone)]
pub struct TextIndex {
    config: TextIndexConfig,
    postings: HashMap<String, Vec<(u32, u32)>>,
    doc_len: Vec<u32>,
    total_len: u64,
    docs: u64,
}

/// Collection-wide BM25 parameters of one query: `N`, `avgdl` and each term's idf.
#[derive(Debug, Clone, PartialEq)]
pub struct Bm25 {
    /// Query terms, distinct.
    pub terms: Vec<String>,
    /// Inverse document frequency of each term (same order).
    pub idf: Vec<f32>,
    /// Average text length of the live documents.
    pub avgdl: f32,
}

impl Bm25 {
    /// Parameters from summed statistics: `docs` live documents with text, `total_len`
    /// their summed lengths, `df[i]` the live documents holding `terms[i]`.
    pub fn new(terms: Vec<String>, docs: u64, total_len: u64, df: &[u64]) -> Self {
        let n = docs as f64;
        let idf = df
            .iter()
            .map(|&d| {
                let d = d as f64;
                (1.0 + (n - d + 0.5) / (d + 0.5)).ln() as f32
            })
            .collect();
        let avgdl = if docs == 0 {
            1.0
        } else {
            (total_len as f64 / n) as f32
        };
        Self { terms, idf, avgdl }
    }
}

/// The text of a payload at `key`, as terms.
fn terms_of(config: &TextIndexConfig, payload: &Payload, out: &mut Vec<String>) {
    out.clear();
    for v in values_at(payload, &config.key) {
        if let Value::String(s) = v {
            config.tokenize_into(s, out);
        }
    }
}

impl TextIndex {
    /// An empty index for `config`.
    pub fn new(config: TextIndexConfig) -> Self {
        Self {
            config,
            postings: HashMap::new(),
            doc_len: Vec::new(),
            total_len: 0,
            docs: 0,
        }
    }

    /// The index over rows `payloads[i]` (offset `i`).
    pub fn build(config: &TextIndexConfig, payloads: &[Payload]) -> Self {
        let mut index = Self::new(config.clone());
        let mut buf = Vec::new();
        for (off, p) in payloads.iter().enumerate() {
            index.add_with(off as u32, p, &mut buf);
        }
        index
    }

    /// The analysis settings this index was built with.
    pub fn config(&self) -> &TextIndexConfig {
        &self.config
    }

    /// Indexes row `offset` (which must not be indexed already).
    pub fn add(&mut self, offset: u32, payload: &Payload) {
        let mut buf = Vec::new();
        self.add_with(offset, payload, &mut buf);
    }

    fn add_with(&mut self, offset: u32, payload: &Payload, buf: &mut Vec<String>) {
        let off = offset as usize;
        if self.doc_len.len() <= off {
            self.doc_len.resize(off + 1, 0);
        }
        terms_of(&self.config, payload, buf);
        if buf.is_empty() {
            return;
        }
        let mut tf: HashMap<&str, u32> = HashMap::with_capacity(buf.len());
        for t in buf.iter() {
            *tf.entry(t.as_str()).or_default() += 1;
        }
        for (t, n) in tf {
            match self.postings.get_mut(t) {
                Some(list) => list.push((offset, n)),
                None => {
                    self.postings.insert(t.to_string(), vec![(offset, n)]);
                }
            }
        }
        self.doc_len[off] = buf.len() as u32;
        self.total_len += buf.len() as u64;
        self.docs += 1;
    }

    /// Removes row `offset`, whose payload was `payload` when it was indexed.
    pub fn remove(&mut self, offset: u32, payload: &Payload) {
        let off = offset as usize;
        if self.doc_len.get(off).copied().unwrap_or(0) == 0 {
            return;
        }
        let mut buf = Vec::new();
        terms_of(&self.config, payload, &mut buf);
        buf.sort_unstable();
        buf.dedup();
        for t in &buf {
            if let Some(list) = self.postings.get_mut(t) {
                list.retain(|&(o, _)| o != offset);
                if list.is_empty() {
                    self.postings.remove(t);
                }
            }
        }
        self.total_len -= u64::from(self.doc_len[off]);
        self.doc_len[off] = 0;
        self.docs -= 1;
    }

    /// Length in terms of row `offset`'s text (0 without text).
    pub fn doc_len(&self, offset: u32) -> u32 {
        self.doc_len.get(offset as usize).copied().unwrap_or(0)
    }

    /// The rows holding `term`, with its frequency in each.
    pub fn postings(&self, term: &str) -> &[(u32, u32)] {
        self.postings.get(term).map_or(&[], Vec::as_slice)
    }

    /// Number of distinct terms.
    pub fn terms(&self) -> usize {
        self.postings.len()
    }

    /// Documents with text and their summed length, leaving out the `dead` offsets.
    pub fn live_stats(&self, dead: impl IntoIterator<Item = u32>) -> (u64, u64) {
        let (mut docs, mut total) = (self.docs, self.total_len);
        for off in dead {
            let l = self.doc_len(off);
            if l > 0 {
                docs -= 1;
                total -= u64::from(l);
            }
        }
        (docs, total)
    }

    /// Live rows holding `term` (`is_dead` tells the tombstoned offsets).
    pub fn df(&self, term: &str, is_dead: impl Fn(u32) -> bool) -> u64 {
        self.postings(term)
            .iter()
            .filter(|(o, _)| !is_dead(*o))
            .count() as u64
    }

    /// Rows (of `rows` in all) whose text holds every term; no terms = no rows.
    pub fn matching_all(&self, terms: &[String], rows: usize) -> Bitset {
        let mut lists: Vec<&[(u32, u32)]> = terms.iter().map(|t| self.postings(t)).collect();
        if lists.is_empty() || lists.iter().any(|l| l.is_empty()) {
            return Bitset::new(rows);
        }
        lists.sort_by_key(|l| l.len());
        let mut acc = Bitset::new(rows);
        lists[0]
            .iter()
            .filter(|(o, _)| (*o as usize) < rows)
            .for_each(|(o, _)| acc.set(*o as usize));
        for l in &lists[1..] {
            let mut b = Bitset::new(rows);
            l.iter()
                .filter(|(o, _)| (*o as usize) < rows)
                .for_each(|(o, _)| b.set(*o as usize));
            acc.and(&b);
        }
        acc
    }

    /// BM25 scores of the rows that hold some query term and pass `accept`,
    /// as `(offset, score)` in no particular order.
    pub fn score(&self, bm25: &Bm25, accept: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
        let mut acc: HashMap<u32, f32> = HashMap::new();
        let mut dense: Vec<f32> = Vec::new();
        let total: usize = bm25.terms.iter().map(|t| self.postings(t).len()).sum();
        // Many hits: a dense accumulator beats hashing every posting.
        let use_dense = total > self.doc_len.len() / 8;
        if use_dense {
            dense.resize(self.doc_len.len(), 0.0);
        }
        for (t, idf) in bm25.terms.iter().zip(&bm25.idf) {
            for &(off, tf) in self.postings(t) {
                let tf = tf as f32;
                let dl = self.doc_len(off) as f32;
                let norm = BM25_K1 * (1.0 - BM25_B + BM25_B * dl / bm25.avgdl);
                let s = idf * tf * (BM25_K1 + 1.0) / (tf + norm);
                if use_dense {
                    dense[off as usize] += s;
                } else {
                    *acc.entry(off).or_default() += s;
                }
            }
        }
        if use_dense {
            dense
                .into_iter()
                .enumerate()
                .filter(|&(o, s)| s > 0.0 && accept(o as u32))
                .map(|(o, s)| (o as u32, s))
                .collect()
        } else {
            acc.into_iter().filter(|&(o, _)| accept(o)).collect()
        }
    }

    /// Approximate heap bytes.
    pub fn memory_bytes(&self) -> usize {
        let lists: usize = self
            .postings
            .iter()
            .map(|(t, l)| t.len() + 48 + l.len() * 8)
            .sum();
        lists + self.doc_len.len() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn docs(texts: &[&str]) -> Vec<Payload> {
        texts
            .iter()
            .map(|t| json!({ "text": t }).as_object().unwrap().clone())
            .collect()
    }

    fn scores(index: &TextIndex, query: &str) -> Vec<(u32, f32)> {
        let terms = index.config().query_terms(query);
        let (n, total) = index.live_stats([]);
        let df: Vec<u64> = terms.iter().map(|t| index.df(t, |_| false)).collect();
        let bm = Bm25::new(terms, n, total, &df);
        let mut s = index.score(&bm, |_| true);
        s.sort_by_key(|&(o, _)| o);
        s
    }

    #[test]
    fn bm25_matches_a_hand_computed_corpus() {
        // d0: "a b" (2), d1: "a a c" (3), d2: "b c d e" (4), d3: no text. N=3, avgdl=3.
        let mut p = docs(&["a b", "A a c", "b c d e"]);
        p.push(json!({"other": 1}).as_object().unwrap().clone());
        let index = TextIndex::build(&TextIndexConfig::new("text"), &p);
        assert_eq!(index.live_stats([]), (3, 9));
        assert_eq!(index.doc_len(3), 0);
        let idf = |df: f64| (1.0 + (3.0 - df + 0.5) / (df + 0.5)).ln();
        let part = |tf: f64, dl: f64| tf * 2.2 / (tf + 1.2 * (1.0 - 0.75 + 0.75 * dl / 3.0));
        // Query "a": df(a)=2.
        let s = scores(&index, "a");
        assert_eq!(s.len(), 2);
        assert!((s[0].1 as f64 - idf(2.0) * part(1.0, 2.0)).abs() < 1e-5);
        assert!((s[1].1 as f64 - idf(2.0) * part(2.0, 3.0)).abs() < 1e-5);
        // Query "b d": d0 has b, d2 has b and d.
        let s = scores(&index, "b d");
        let d2 = idf(2.0) * part(1.0, 4.0) + idf(1.0) * part(1.0, 4.0);
        assert_eq!(s.iter().map(|x| x.0).collect::<Vec<_>>(), [0, 2]);
        assert!((s[1].1 as f64 - d2).abs() < 1e-5);
        assert!((s[0].1 as f64 - idf(2.0) * part(1.0, 2.0)).abs() < 1e-5);
        // The rarer, shorter match wins.
        assert!(s[1].1 > s[0].1);
    }

    #[test]
    fn dead_rows_leave_the_statistics_and_rows_can_be_replaced() {
        let p = docs(&["x y", "x", "z"]);
        let mut index = TextIndex::build(&TextIndexConfig::new("text"), &p);
        assert_eq!(index.live_stats([1]), (2, 3));
        assert_eq!(index.df("x", |o| o == 1), 1);
        assert_eq!(
            index
                .matching_all(&["x".into(), "y".into()], 3)
                .iter_ones()
                .collect::<Vec<_>>(),
            [0]
        );
        assert_eq!(
            index
                .matching_all(&["x".into(), "q".into()], 3)
                .count_ones(),
            0
        );
        index.remove(0, &p[0]);
        assert_eq!(index.postings("y").len(), 0);
        assert_eq!(index.live_stats([]), (2, 2));
        index.add(0, &docs(&["y y"])[0]);
        assert_eq!(index.postings("y"), [(0, 2)]);
        assert_eq!(index.live_stats([]), (3, 4));
    }
}
