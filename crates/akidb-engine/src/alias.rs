//! Collection aliases: `<data_dir>/aliases.json`, resolved by every call that names a
//! collection, changed only by atomic lists of actions.
//!
//! Rules: an alias names a collection, never another alias (no chains, so no loops); an
//! alias never shares a name with a collection; dropping a collection removes its aliases
//! (as Qdrant does). Changes are made under the catalog lock, written durably (temporary
//! file, fsync, rename, directory fsync) and only then published, so a reader sees either
//! the whole list of actions applied or none of it, before and after a crash.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use akidb_core::alias::{alias_conflict, alias_exists, alias_not_found, validate_alias_name};
use akidb_core::{AliasAction, AliasInfo, Error, Result};

use crate::{fsutil, Database, EngineConfig};

/// Most actions accepted in one request.
pub const MAX_ALIAS_ACTIONS: usize = 1_000;

/// Alias → collection.
pub(crate) type AliasMap = BTreeMap<String, String>;

#[derive(serde::Serialize, serde::Deserialize)]
struct AliasFile {
    version: u32,
    aliases: AliasMap,
}

fn path(cfg: &EngineConfig) -> PathBuf {
    cfg.data_dir.join("aliases.json")
}

/// The saved aliases (empty when the file does not exist). An unreadable file stops the
/// open with `data_corruption`: guessing would route requests to the wrong collection.
pub(crate) fn load(cfg: &EngineConfig) -> Result<AliasMap> {
    let path = path(cfg);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AliasMap::new()),
        Err(e) => return Err(Error::io(format!("read {}", path.display()), &e)),
    };
    serde_json::from_slice::<AliasFile>(&bytes)
        .map(|f| f.aliases)
        .map_err(|e| {
            Error::corruption(format!("{} is not a valid alias list: {e}", path.display()))
        })
}

/// Writes the aliases durably.
pub(crate) fn save(cfg: &EngineConfig, aliases: &AliasMap) -> Result<()> {
    let file = AliasFile {
        version: 1,
        aliases: aliases.clone(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| Error::internal(e.to_string()))?;
    fsutil::write_atomic(&path(cfg), &json)
}

/// Drops aliases that name a missing collection (a crash between a collection's drop and
/// the rewrite of the alias file) or that shadow a collection; true when any was dropped.
pub(crate) fn prune(aliases: &mut AliasMap, is_collection: impl Fn(&str) -> bool) -> bool {
    let before = aliases.len();
    aliases.retain(|alias, target| {
        let keep = is_collection(target) && !is_collection(alias);
        if !keep {
            tracing::warn!(alias = %alias, collection = %target, "alias dropped on open: its collection does not exist or a collection has its name");
        }
        keep
    });
    aliases.len() != before
}

/// Applies `actions` in order to a copy of `aliases`; the first invalid one fails all.
fn apply(
    aliases: &AliasMap,
    actions: &[AliasAction],
    is_collection: impl Fn(&str) -> bool,
) -> Result<AliasMap> {
    let mut next = aliases.clone();
    for action in actions {
        match action {
            AliasAction::Create { alias, collection } => {
                validate_alias_name(alias)?;
                if is_collection(alias) {
                    return Err(alias_conflict(format!(
                        "alias '{alias}' would shadow the collection of that name"
                    )));
                }
                if next.contains_key(alias) {
                    return Err(alias_exists(alias));
                }
                if next.contains_key(collection) {
                    return Err(Error::invalid(
                        "alias_chain",
                        format!(
                            "'{collection}' is an alias; an alias must name a collection, \
                             not another alias"
                        ),
                    ));
                }
                if !is_collection(collection) {
                    return Err(Error::collection_not_found(collection));
                }
                next.insert(alias.clone(), collection.clone());
            }
            AliasAction::Delete { alias } => {
                if next.remove(alias).is_none() {
                    return Err(alias_not_found(alias));
                }
            }
            AliasAction::Rename {
                old_alias,
                new_alias,
            } => {
                let Some(target) = next.get(old_alias).cloned() else {
                    return Err(alias_not_found(old_alias));
                };
                if old_alias == new_alias {
                    continue;
                }
                validate_alias_name(new_alias)?;
                if is_collection(new_alias) {
                    return Err(alias_conflict(format!(
                        "alias '{new_alias}' would shadow the collection of that name"
                    )));
                }
                if next.contains_key(new_alias) {
                    return Err(alias_exists(new_alias));
                }
                next.remove(old_alias);
                next.insert(new_alias.clone(), target);
            }
        }
    }
    Ok(next)
}

fn infos(aliases: &AliasMap, only: Option<&str>) -> Vec<AliasInfo> {
    aliases
        .iter()
        .filter(|(_, c)| only.is_none_or(|o| o == c.as_str()))
        .map(|(a, c)| AliasInfo {
            alias: a.clone(),
            collection: c.clone(),
        })
        .collect()
}

impl Database {
    /// The collection `name` stands for: its target when `name` is an alias, else `name`.
    pub fn resolve<'a>(&self, name: &'a str) -> Cow<'a, str> {
        match self.inner.aliases.read().get(name) {
            Some(target) => Cow::Owned(target.clone()),
            None => Cow::Borrowed(name),
        }
    }

    /// Applies a list of alias actions atomically: all of them, durably, or none (the
    /// first invalid action's error). An empty list is `invalid_request`.
    pub fn update_aliases(&self, actions: &[AliasAction]) -> Result<()> {
        if actions.is_empty() || actions.len() > MAX_ALIAS_ACTIONS {
            return Err(Error::invalid(
                "invalid_request",
                format!(
                    "actions must hold 1..={MAX_ALIAS_ACTIONS} actions, got {}",
                    actions.len()
                ),
            ));
        }
        let _guard = self.inner.catalog_lock.lock();
        let collections = self.inner.collections.read();
        let current = self.inner.aliases.read().clone();
        let next = apply(&current, actions, |n| collections.contains_key(n))?;
        drop(collections);
        if next != current {
            save(&self.inner.shared.cfg, &next)?;
            *self.inner.aliases.write() = next;
        }
        tracing::info!(actions = actions.len(), "aliases updated");
        Ok(())
    }

    /// Every alias, sorted by alias.
    pub fn list_aliases(&self) -> Vec<AliasInfo> {
        infos(&self.inner.aliases.read(), None)
    }

    /// The aliases of one collection (`name` may itself be an alias of it).
    pub fn collection_aliases(&self, name: &str) -> Result<Vec<AliasInfo>> {
        let entry = self.entry(name)?;
        Ok(infos(
            &self.inner.aliases.read(),
            Some(entry.config.name.as_str()),
        ))
    }

    /// Removes the aliases of a dropped collection; the caller holds the catalog lock.
    pub(crate) fn remove_aliases_of(&self, collection: &str) -> Result<()> {
        let mut next = self.inner.aliases.read().clone();
        next.retain(|_, c| c != collection);
        if next.len() != self.inner.aliases.read().len() {
            save(&self.inner.shared.cfg, &next)?;
            *self.inner.aliases.write() = next;
            tracing::info!(collection = %collection, "aliases of the dropped collection removed");
        }
        Ok(())
    }
}

/// `alias_conflict` when a new collection would take an alias's name.
pub(crate) fn check_collection_name(aliases: &AliasMap, name: &str) -> Result<()> {
    match aliases.get(name) {
        Some(target) => Err(alias_conflict(format!(
            "'{name}' is an alias of collection '{target}'; delete the alias first"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(a: &str, c: &str) -> AliasAction {
        AliasAction::Create {
            alias: a.into(),
            collection: c.into(),
        }
    }

    #[test]
    fn actions_apply_all_or_nothing() {
        let is_col = |n: &str| n == "c1" || n == "c2";
        let m = apply(&AliasMap::new(), &[create("a", "c1")], is_col).unwrap();
        let swapped = apply(
            &m,
            &[AliasAction::Delete { alias: "a".into() }, create("a", "c2")],
            is_col,
        )
        .unwrap();
        assert_eq!(swapped["a"], "c2");
        let code = |r: Result<AliasMap>| r.unwrap_err().code();
        assert_eq!(
            code(apply(&m, &[create("a", "c2")], is_col)),
            "alias_already_exists"
        );
        assert_eq!(
            code(apply(&m, &[create("c2", "c1")], is_col)),
            "alias_conflict"
        );
        assert_eq!(code(apply(&m, &[create("b", "a")], is_col)), "alias_chain");
        assert_eq!(
            code(apply(&m, &[create("b", "nope")], is_col)),
            "collection_not_found"
        );
        assert_eq!(
            code(apply(&m, &[create("b c", "c1")], is_col)),
            "invalid_alias_name"
        );
        assert_eq!(
            code(apply(
                &m,
                &[AliasAction::Delete { alias: "x".into() }],
                is_col
            )),
            "alias_not_found"
        );
        let renamed = apply(
            &m,
            &[AliasAction::Rename {
                old_alias: "a".into(),
                new_alias: "b".into(),
            }],
            is_col,
        )
        .unwrap();
        assert_eq!(renamed.get("b").map(String::as_str), Some("c1"));
        assert!(!renamed.contains_key("a"));
    }
}
