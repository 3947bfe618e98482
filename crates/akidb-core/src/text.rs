//! Text analysis for full-text search: the per-collection text index configuration
//! (`"text_index":{"key":"text","tokenizer":"word","lowercase":true,"stemmer":"english"}`)
//! and the tokenizer that turns a payload string or a query into terms.
//!
//! The tokenizer lives here, beside the filter language, so that a `text` filter
//! condition evaluated row by row ([`crate::Condition::matches`]) and the inverted
//! index of `akidb-index` always agree on what a word is.
//!
//! ```
//! use akidb_core::text::TextIndexConfig;
//! let mut c = TextIndexConfig::new("text");
//! c.stemmer = Some("english".into());
//! assert_eq!(c.tokenize("Running the Tests, quickly!"), ["run", "the", "test", "quick"]);
//! ```

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::{Error, Result};

/// Longest term kept (longer words are cut to this many bytes, at a char boundary).
pub const MAX_TERM_BYTES: usize = 64;

/// How text is split into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tokenizer {
    /// Unicode word boundaries (UAX #29); only words with a letter or digit are kept.
    #[default]
    Word,
}

/// The text index of a collection: which payload key holds the text and how it is analysed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextIndexConfig {
    /// Dotted payload path of the text (a string or a list of strings).
    pub key: String,
    /// Tokenizer (only `word`).
    #[serde(default)]
    pub tokenizer: Tokenizer,
    /// Lowercase every term (default true).
    #[serde(default = "yes")]
    pub lowercase: bool,
    /// Snowball stemmer language (`english`, `french`, `german`, `spanish`, `italian`,
    /// `portuguese`, `dutch`, `russian`, `swedish`); absent = no stemming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stemmer: Option<String>,
}

fn yes() -> bool {
    true
}

fn algorithm(name: &str) -> Option<rust_stemmers::Algorithm> {
    use rust_stemmers::Algorithm as A;
    Some(match name {
        "english" => A::English,
        "french" => A::French,
        "german" => A::German,
        "spanish" => A::Spanish,
        "italian" => A::Italian,
        "portuguese" => A::Portuguese,
        "dutch" => A::Dutch,
        "russian" => A::Russian,
        "swedish" => A::Swedish,
        _ => return None,
    })
}

impl TextIndexConfig {
    /// A `word` tokenizer over `key`, lowercasing, without stemming.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            tokenizer: Tokenizer::Word,
            lowercase: true,
            stemmer: None,
        }
    }

    /// Checks the key and the stemmer language (`invalid_text_index`).
    pub fn validate(&self) -> Result<()> {
        if self.key.is_empty() || self.key.split('.').any(str::is_empty) {
            return Err(Error::invalid(
                "invalid_text_index",
                format!(
                    "text_index.key must be a non-empty dotted payload path, got '{}'",
                    self.key
                ),
            ));
        }
        if let Some(s) = &self.stemmer {
            if algorithm(s).is_none() {
                return Err(Error::invalid(
                    "invalid_text_index",
                    format!("text_index.stemmer '{s}' is not supported: use english, french, german, spanish, italian, portuguese, dutch, russian or swedish"),
                ));
            }
        }
        Ok(())
    }

    /// The terms of `text`, in order, repeats kept.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.tokenize_into(text, &mut out);
        out
    }

    /// Appends the terms of `text` to `out`.
    pub fn tokenize_into(&self, text: &str, out: &mut Vec<String>) {
        let stemmer = self
            .stemmer
            .as_deref()
            .and_then(algorithm)
            .map(rust_stemmers::Stemmer::create);
        for word in text.unicode_words() {
            let mut w = if self.lowercase {
                word.to_lowercase()
            } else {
                word.to_string()
            };
            if let Some(s) = &stemmer {
                let stemmed = s.stem(&w);
                if stemmed != w {
                    w = stemmed.into_owned();
                }
            }
            if w.len() > MAX_TERM_BYTES {
                let mut end = MAX_TERM_BYTES;
                while !w.is_char_boundary(end) {
                    end -= 1;
                }
                w.truncate(end);
            }
            if !w.is_empty() {
                out.push(w);
            }
        }
    }

    /// The distinct terms of a query, in first-seen order.
    pub fn query_terms(&self, text: &str) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.tokenize(text)
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_tokenizer_lowercases_and_stems() {
        let c = TextIndexConfig::new("t");
        assert_eq!(
            c.tokenize("Hello, World! os.path.join() 3.5x"),
            ["hello", "world", "os.path.join", "3.5x"]
        );
        let mut s = c.clone();
        s.stemmer = Some("english".into());
        assert_eq!(s.tokenize("connections connected"), ["connect", "connect"]);
        let mut keep = c.clone();
        keep.lowercase = false;
        assert_eq!(keep.tokenize("Hello World"), ["Hello", "World"]);
        assert_eq!(c.query_terms("a b a"), ["a", "b"]);
    }

    #[test]
    fn validation() {
        TextIndexConfig::new("text").validate().unwrap();
        assert_eq!(
            TextIndexConfig::new("").validate().unwrap_err().code(),
            "invalid_text_index"
        );
        let mut c = TextIndexConfig::new("t");
        c.stemmer = Some("klingon".into());
        assert_eq!(c.validate().unwrap_err().code(), "invalid_text_index");
        let parsed: TextIndexConfig =
            serde_json::from_str(r#"{"key":"text","tokenizer":"word","lowercase":true}"#).unwrap();
        assert_eq!(parsed, TextIndexConfig::new("text"));
        assert!(
            serde_json::from_str::<TextIndexConfig>(r#"{"key":"t","tokenizer":"ngram"}"#).is_err()
        );
    }
}
