//! The payload index of one segment: inverted lists (value → offsets) built
//! lazily per payload key on first use, an id → offset map for `has_id`, and the
//! evaluation of a [`Filter`] into a [`Bitset`] of matching offsets.
//!
//! Conditions without an index (`range`, `is_null`, `is_empty`, numbers that are
//! not exact integers) fall back to [`Condition::matches`] per point, so the
//! result always equals `Filter::matches` row by row. A `text` condition bound to
//! the collection's text index settings is answered from the segment's
//! [`TextIndex`] (built lazily like the inverted lists, or handed in by the engine).

use std::collections::HashMap;
use std::sync::Arc;

use akidb_core::filter::values_at;
use akidb_core::{Condition, Filter, Payload, PointId};
use parking_lot::RwLock;
use serde_json::Value;

use crate::{Bitset, TextIndex};
use akidb_core::TextIndexConfig;

/// Largest integer magnitude where JSON number equality is exact in f64.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// A scalar payload value as an inverted-list key. Numbers are keyed by their
/// integer value so `1` and `1.0` meet, as they do in [`Condition::matches`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ValueKey {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl ValueKey {
    /// The key of a value, or None when the value cannot be indexed exactly.
    fn of(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(ValueKey::Str(s.clone())),
            Value::Bool(b) => Some(ValueKey::Bool(*b)),
            Value::Number(n) => {
                let f = n.as_f64()?;
                if let Some(i) = n.as_i64() {
                    if (i as f64).abs() <= EXACT_INT {
                        return Some(ValueKey::Int(i));
                    }
                    return None;
                }
                if f.fract() == 0.0 && f.abs() <= EXACT_INT {
                    Some(ValueKey::Int(f as i64))
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

/// Inverted lists of one payload key.
struct KeyIndex {
    lists: HashMap<ValueKey, Vec<u32>>,
}

/// Payload index over one segment; row `i` is offset `i`.
pub struct PayloadIndex {
    ids: Vec<PointId>,
    payloads: Vec<Payload>,
    keys: RwLock<HashMap<String, Arc<KeyIndex>>>,
    id_map: RwLock<Option<Arc<HashMap<PointId, u32>>>>,
    text: RwLock<Option<Arc<TextIndex>>>,
}

impl PayloadIndex {
    /// Index over rows `ids[i]`, `payloads[i]`; panics when the lengths differ.
    pub fn new(ids: Vec<PointId>, payloads: Vec<Payload>) -> Self {
        assert_eq!(
            ids.len(),
            payloads.len(),
            "ids and payloads differ in length"
        );
        Self {
            ids,
            payloads,
            keys: RwLock::new(HashMap::new()),
            id_map: RwLock::new(None),
            text: RwLock::new(None),
        }
    }

    /// Installs a full-text index already built over these rows (the mutable segment's,
    /// when it is sealed).
    pub fn set_text_index(&self, index: Arc<TextIndex>) {
        *self.text.write() = Some(index);
    }

    /// The full-text index of these rows for `config`, built on first use (and rebuilt
    /// when asked for with other settings).
    pub fn text_index(&self, config: &TextIndexConfig) -> Arc<TextIndex> {
        if let Some(t) = self.text.read().as_ref() {
            if t.config() == config {
                return t.clone();
            }
        }
        let t = Arc::new(TextIndex::build(config, &self.payloads));
        *self.text.write() = Some(t.clone());
        t
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The id of row `offset`.
    pub fn id(&self, offset: u32) -> &PointId {
        &self.ids[offset as usize]
    }

    /// The payload of row `offset`.
    pub fn payload(&self, offset: u32) -> &Payload {
        &self.payloads[offset as usize]
    }

    /// All ids, by offset.
    pub fn ids(&self) -> &[PointId] {
        &self.ids
    }

    /// All payloads, by offset.
    pub fn payloads(&self) -> &[Payload] {
        &self.payloads
    }

    /// The offset of `id`, if present.
    pub fn offset_of(&self, id: &PointId) -> Option<u32> {
        self.id_map().get(id).copied()
    }

    fn id_map(&self) -> Arc<HashMap<PointId, u32>> {
        if let Some(m) = self.id_map.read().as_ref() {
            return m.clone();
        }
        let map: HashMap<PointId, u32> = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect();
        let map = Arc::new(map);
        *self.id_map.write() = Some(map.clone());
        map
    }

    fn key_index(&self, key: &str) -> Arc<KeyIndex> {
        if let Some(k) = self.keys.read().get(key) {
            return k.clone();
        }
        let mut lists: HashMap<ValueKey, Vec<u32>> = HashMap::new();
        for (i, p) in self.payloads.iter().enumerate() {
            for v in values_at(p, key) {
                if let Some(k) = ValueKey::of(v) {
                    let list = lists.entry(k).or_default();
                    // A row holding the same value twice (an array) is listed once.
                    if list.last() != Some(&(i as u32)) {
                        list.push(i as u32);
                    }
                }
            }
        }
        let ki = Arc::new(KeyIndex { lists });
        self.keys.write().insert(key.to_string(), ki.clone());
        ki
    }

    /// Offsets of the rows matching `filter` (every row for an empty filter).
    pub fn evaluate(&self, filter: &Filter) -> Bitset {
        let n = self.len();
        let mut out = Bitset::full(n);
        for c in &filter.must {
            out.and(&self.condition(c));
        }
        if !filter.should.is_empty() {
            let mut any = Bitset::new(n);
            for c in &filter.should {
                any.or(&self.condition(c));
            }
            out.and(&any);
        }
        for c in &filter.must_not {
            out.and_not(&self.condition(c));
        }
        out
    }

    /// Number of rows matching `filter`.
    pub fn count(&self, filter: &Filter) -> usize {
        self.evaluate(filter).count_ones()
    }

    fn condition(&self, c: &Condition) -> Bitset {
        let n = self.len();
        match c {
            Condition::MatchValue { key, value } => {
                if let Some(k) = ValueKey::of(value) {
                    let mut b = Bitset::new(n);
                    if let Some(list) = self.key_index(key).lists.get(&k) {
                        list.iter().for_each(|&i| b.set(i as usize));
                    }
                    return b;
                }
                self.scan(c)
            }
            Condition::MatchAny { key, any } => {
                let keys: Option<Vec<ValueKey>> = any.iter().map(ValueKey::of).collect();
                match keys {
                    Some(keys) => {
                        let ki = self.key_index(key);
                        let mut b = Bitset::new(n);
                        for k in keys {
                            if let Some(list) = ki.lists.get(&k) {
                                list.iter().for_each(|&i| b.set(i as usize));
                            }
                        }
                        b
                    }
                    None => self.scan(c),
                }
            }
            Condition::HasId(ids) => {
                let map = self.id_map();
                let mut b = Bitset::new(n);
                for id in ids {
                    if let Some(&i) = map.get(id) {
                        b.set(i as usize);
                    }
                }
                b
            }
            Condition::Nested(f) => self.evaluate(f),
            Condition::Text {
                key,
                query,
                analyzer: Some(a),
            } if &a.key == key => {
                let terms = a.query_terms(query);
                self.text_index(a).matching_all(&terms, n)
            }
            _ => self.scan(c),
        }
    }

    fn scan(&self, c: &Condition) -> Bitset {
        self.ids
            .iter()
            .zip(&self.payloads)
            .map(|(id, p)| c.matches(id, p))
            .collect()
    }

    /// Approximate heap bytes of the built inverted lists and id map (not the payloads).
    pub fn memory_bytes(&self) -> usize {
        let lists: usize = self
            .keys
            .read()
            .values()
            .map(|k| {
                k.lists
                    .iter()
                    .map(|(key, l)| {
                        l.len() * 4
                            + 48
                            + matches!(key, ValueKey::Str(s) if !s.is_empty()) as usize * 32
                    })
                    .sum::<usize>()
            })
            .sum();
        let ids = self.id_map.read().as_ref().map_or(0, |m| m.len() * 48);
        let text = self.text.read().as_ref().map_or(0, |t| t.memory_bytes());
        lists + ids + text
    }
}
