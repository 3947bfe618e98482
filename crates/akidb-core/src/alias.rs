//! Collection aliases: a second name that resolves to one collection, switched atomically.

use serde::{Deserialize, Serialize};

use crate::{Error, ErrorKind, Result};

/// One alias and the collection it names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasInfo {
    /// The alias.
    pub alias: String,
    /// The collection it resolves to.
    pub collection: String,
}

/// One step of an atomic alias change (Qdrant's shape: `{"create":{…}}`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AliasAction {
    /// Creates `alias` for `collection` (`alias_already_exists` when the alias exists).
    Create {
        /// The new alias.
        alias: String,
        /// An existing collection (not an alias).
        collection: String,
    },
    /// Removes `alias` (`alias_not_found` when it does not exist).
    Delete {
        /// The alias to remove.
        alias: String,
    },
    /// Renames `old_alias` to `new_alias`, keeping its collection.
    Rename {
        /// The existing alias.
        old_alias: String,
        /// Its new name.
        new_alias: String,
    },
}

/// Checks an alias name: the collection name rules (`[a-zA-Z0-9_-]{1,64}`), else
/// `invalid_alias_name`.
pub fn validate_alias_name(name: &str) -> Result<()> {
    crate::config::validate_name(name).map_err(|_| {
        Error::invalid(
            "invalid_alias_name",
            format!("alias name '{name}' must match [a-zA-Z0-9_-]{{1,64}}"),
        )
    })
}

/// `alias_not_found` (404).
pub fn alias_not_found(alias: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        "alias_not_found",
        format!("alias '{alias}' does not exist"),
    )
}

/// `alias_already_exists` (409).
pub fn alias_exists(alias: &str) -> Error {
    Error::new(
        ErrorKind::AlreadyExists,
        "alias_already_exists",
        format!("alias '{alias}' already exists"),
    )
}

/// `alias_conflict` (409): an alias and a collection may not share a name.
pub fn alias_conflict(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::AlreadyExists, "alias_conflict", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_have_qdrants_shape() {
        let v: Vec<AliasAction> = serde_json::from_value(serde_json::json!([
            {"create": {"alias": "a", "collection": "c"}},
            {"delete": {"alias": "a"}},
            {"rename": {"old_alias": "a", "new_alias": "b"}}
        ]))
        .unwrap();
        assert_eq!(
            v[0],
            AliasAction::Create {
                alias: "a".into(),
                collection: "c".into()
            }
        );
        assert!(serde_json::from_value::<AliasAction>(serde_json::json!({"drop": {}})).is_err());
        assert_eq!(
            validate_alias_name("bad name").unwrap_err().code(),
            "invalid_alias_name"
        );
    }
}
