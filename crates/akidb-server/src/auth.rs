//! API-key authentication shared by REST and gRPC. With no key configured every
//! request is allowed; otherwise the full key may do anything and the read-only key
//! may only read and search (`403 forbidden` for writes).

use crate::config::AuthSection;
use crate::error::ApiError;

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// GETs and searches.
    Read,
    /// Anything that changes state.
    Write,
}

/// Whether any key is configured.
pub fn enabled(auth: &AuthSection) -> bool {
    auth.api_key.is_some() || auth.read_only_api_key.is_some()
}

/// Compares without an early exit, so timing does not leak how much of a key matched.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// Extracts the key from an `Authorization: Bearer …` or `api-key: …` value pair.
pub fn presented<'a>(authorization: Option<&'a str>, api_key: Option<&'a str>) -> Option<&'a str> {
    if let Some(v) = authorization {
        let v = v.trim();
        if let Some(rest) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(rest.trim());
        }
        return Some(v);
    }
    api_key.map(str::trim)
}

/// Decides whether a request presenting `key` may do `access`.
pub fn check(auth: &AuthSection, key: Option<&str>, access: Access) -> Result<(), ApiError> {
    if !enabled(auth) {
        return Ok(());
    }
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Err(ApiError::unauthorized(
            "missing API key: send 'Authorization: Bearer <key>' (or an 'api-key' header)",
        ));
    };
    if auth.api_key.as_deref().is_some_and(|k| same(k, key)) {
        return Ok(());
    }
    if auth
        .read_only_api_key
        .as_deref()
        .is_some_and(|k| same(k, key))
    {
        return match access {
            Access::Read => Ok(()),
            Access::Write => Err(ApiError::forbidden(
                "the read-only API key may not change data",
            )),
        };
    }
    Err(ApiError::unauthorized("invalid API key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_grant_what_they_should() {
        let open = AuthSection::default();
        check(&open, None, Access::Write).unwrap();
        let auth = AuthSection {
            api_key: Some("full".into()),
            read_only_api_key: Some("ro".into()),
        };
        assert_eq!(
            check(&auth, None, Access::Read).unwrap_err().code,
            "unauthorized"
        );
        assert_eq!(
            check(&auth, Some("nope"), Access::Read).unwrap_err().code,
            "unauthorized"
        );
        assert_eq!(
            check(&auth, Some("ful"), Access::Read).unwrap_err().code,
            "unauthorized"
        );
        check(&auth, Some("full"), Access::Write).unwrap();
        check(&auth, Some("ro"), Access::Read).unwrap();
        assert_eq!(
            check(&auth, Some("ro"), Access::Write).unwrap_err().code,
            "forbidden"
        );
        assert_eq!(presented(Some("Bearer abc"), None), Some("abc"));
        assert_eq!(presented(None, Some("abc")), Some("abc"));
    }
}
