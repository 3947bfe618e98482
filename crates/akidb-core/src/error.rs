//! The one error type of AkiDB, with a stable snake_case code per variant.

use std::fmt;

/// Result alias used across AkiDB crates.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Broad class of an error; the server maps each class to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or violates a documented limit (400).
    InvalidArgument,
    /// The named collection, point or snapshot does not exist (404).
    NotFound,
    /// The thing to create exists already (409).
    AlreadyExists,
    /// The request conflicts with the current state: a lost lease, a changed object (409).
    Conflict,
    /// Waited for a condition (a replica catching up) longer than allowed (504).
    Timeout,
    /// A payload or body is larger than allowed (413).
    PayloadTooLarge,
    /// A dependency (the object store) cannot be reached right now (503).
    Unavailable,
    /// The disk is full (507).
    InsufficientStorage,
    /// Stored data failed an integrity check (500, never silently ignored).
    Corruption,
    /// Anything else (500).
    Internal,
}

/// An AkiDB error: a stable machine-readable `code` plus a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    code: &'static str,
    message: String,
}

impl Error {
    /// Builds an error from its parts; prefer the named constructors below.
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
        }
    }

    /// The broad class, used to pick an HTTP or gRPC status.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable snake_case code clients match on.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human-readable explanation.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A request argument is invalid; `code` names what is wrong.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, code, message)
    }

    /// No collection with this name.
    pub fn collection_not_found(name: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            "collection_not_found",
            format!("collection '{name}' does not exist"),
        )
    }

    /// A collection with this name exists already.
    pub fn collection_exists(name: &str) -> Self {
        Self::new(
            ErrorKind::AlreadyExists,
            "collection_already_exists",
            format!("collection '{name}' already exists"),
        )
    }

    /// No point with this id.
    pub fn point_not_found(id: &crate::PointId) -> Self {
        Self::new(
            ErrorKind::NotFound,
            "point_not_found",
            format!("point {id} does not exist"),
        )
    }

    /// Something is over a configured size limit.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PayloadTooLarge, "payload_too_large", message)
    }

    /// The object store cannot be reached.
    pub fn object_store_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, "object_store_unavailable", message)
    }

    /// The collection failed to open and is quarantined; `reason` says why.
    pub fn collection_damaged(name: &str, reason: &str) -> Self {
        Self::new(
            ErrorKind::Unavailable,
            "collection_damaged",
            format!(
                "collection '{name}' is damaged and quarantined: {reason}; restore it \
                 (POST /api/v1/admin/collections/{name}/restore) or delete it"
            ),
        )
    }

    /// The collection is in use and a tier move or restore could not get it exclusively.
    pub fn collection_busy(name: &str, what: &str) -> Self {
        Self::new(
            ErrorKind::Unavailable,
            "collection_busy",
            format!("collection '{name}' is busy: {what}; retry later"),
        )
    }

    /// This node may not write the collection now and no writer can take the write.
    pub fn no_writer(name: &str, why: &str) -> Self {
        Self::new(
            ErrorKind::Unavailable,
            "no_writer",
            format!("collection '{name}' has no reachable writer: {why}; retry shortly"),
        )
    }

    /// This node lost the collection's lease: it must not acknowledge writes any more.
    pub fn fenced(name: &str, why: &str) -> Self {
        Self::new(
            ErrorKind::Conflict,
            "fenced",
            format!("this node is no longer the writer of collection '{name}': {why}"),
        )
    }

    /// A conditional object-store write lost the race (`If-None-Match` / `If-Match`).
    pub fn precondition_failed(key: &str) -> Self {
        Self::new(
            ErrorKind::Conflict,
            "precondition_failed",
            format!("object '{key}' changed or exists already; the conditional write was refused"),
        )
    }

    /// Stored data failed a check; the message names the file and offset.
    pub fn corruption(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corruption, "data_corruption", message)
    }

    /// Any other internal failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, "internal", message)
    }

    /// An I/O failure; a full disk becomes `insufficient_storage`.
    pub fn io(context: impl fmt::Display, err: &std::io::Error) -> Self {
        // ENOSPC (28), EDQUOT (122) and EFBIG (27, a file-size limit such as RLIMIT_FSIZE)
        // on Linux; StorageFull covers the rest.
        let full = matches!(err.raw_os_error(), Some(27) | Some(28) | Some(122))
            || err.kind() == std::io::ErrorKind::StorageFull;
        if full {
            Self::new(
                ErrorKind::InsufficientStorage,
                "insufficient_storage",
                format!("{context}: no space left on device"),
            )
        } else {
            Self::new(ErrorKind::Internal, "io_error", format!("{context}: {err}"))
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disk_and_file_size_limit_are_insufficient_storage() {
        for errno in [27, 28, 122] {
            let e = Error::io("write wal", &std::io::Error::from_raw_os_error(errno));
            assert_eq!(e.code(), "insufficient_storage", "errno {errno}");
        }
        let e = Error::io("write wal", &std::io::Error::from_raw_os_error(5));
        assert_eq!(e.code(), "io_error");
    }
}
