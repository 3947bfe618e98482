//! A fixed-size bitset over the offsets of one segment.

/// Fixed-size set of offsets `0..len`, one bit each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitset {
    words: Vec<u64>,
    len: usize,
}

impl Bitset {
    /// An empty set able to hold offsets `0..len`.
    pub fn new(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// A set holding every offset `0..len`.
    pub fn full(len: usize) -> Self {
        let mut b = Self {
            words: vec![u64::MAX; len.div_ceil(64)],
            len,
        };
        b.trim();
        b
    }

    // Keeps bits past `len` zero so that counting and complement stay exact.
    fn trim(&mut self) {
        let rem = self.len % 64;
        if rem != 0 {
            if let Some(last) = self.words.last_mut() {
                *last &= (1u64 << rem) - 1;
            }
        }
    }

    /// Number of offsets the set can hold.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the set can hold no offsets at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `i`; panics when `i >= len`.
    #[inline]
    pub fn set(&mut self, i: usize) {
        assert!(i < self.len, "bit {i} out of range {}", self.len);
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// Removes `i`; panics when `i >= len`.
    #[inline]
    pub fn clear(&mut self, i: usize) {
        assert!(i < self.len, "bit {i} out of range {}", self.len);
        self.words[i / 64] &= !(1 << (i % 64));
    }

    /// Whether `i` is in the set (false when out of range).
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        i < self.len && self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// Number of offsets in the set.
    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The offsets in the set, ascending.
    pub fn iter_ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }

    /// Keeps only offsets also in `other` (sets must have the same length).
    pub fn and(&mut self, other: &Bitset) {
        assert_eq!(self.len, other.len, "bitset lengths differ");
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a &= b);
    }

    /// Adds every offset of `other` (sets must have the same length).
    pub fn or(&mut self, other: &Bitset) {
        assert_eq!(self.len, other.len, "bitset lengths differ");
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a |= b);
    }

    /// Removes every offset of `other` (sets must have the same length).
    pub fn and_not(&mut self, other: &Bitset) {
        assert_eq!(self.len, other.len, "bitset lengths differ");
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a &= !b);
    }

    /// Flips every bit.
    pub fn not(&mut self) {
        self.words.iter_mut().for_each(|w| *w = !*w);
        self.trim();
    }

    /// Heap bytes used.
    pub fn memory_bytes(&self) -> usize {
        self.words.len() * 8
    }
}

impl FromIterator<bool> for Bitset {
    fn from_iter<I: IntoIterator<Item = bool>>(iter: I) -> Self {
        let bits: Vec<bool> = iter.into_iter().collect();
        let mut b = Bitset::new(bits.len());
        for (i, on) in bits.into_iter().enumerate() {
            if on {
                b.set(i);
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count_iter() {
        let mut b = Bitset::new(130);
        for i in [0, 63, 64, 129] {
            b.set(i);
        }
        assert_eq!(b.count_ones(), 4);
        assert_eq!(b.iter_ones().collect::<Vec<_>>(), vec![0, 63, 64, 129]);
        b.clear(63);
        assert!(!b.get(63) && b.get(64) && !b.get(500));
        let mut n = b.clone();
        n.not();
        assert_eq!(n.count_ones(), 127);
        let full = Bitset::full(130);
        assert_eq!(full.count_ones(), 130);
        let mut x = full.clone();
        x.and_not(&b);
        assert_eq!(x, n);
    }
}
