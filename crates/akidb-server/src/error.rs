//! The API error: an HTTP status (or gRPC code) plus the stable snake_case code and
//! message of `{"error":{"code","message"}}`.

use akidb_core::{Error, ErrorKind};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable snake_case code.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// `{"code","message"}` of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `collection_not_found`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// The HTTP status of an engine error class.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Corruption | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with the given code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 `invalid_json`: the body is not the JSON the route expects.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::bad_request("invalid_json", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 503 `not_ready`: recovery has not finished yet.
    pub fn not_ready() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database is still recovering; retry shortly (see GET /ready)",
        )
    }

    /// 413 `batch_too_large`, naming the limit.
    pub fn batch_too_large(what: &str, n: usize, limit: usize, key: &str) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{n} {what} in one request, the limit is {limit} ({key})"),
        )
    }

    /// 413 `payload_too_large` for a body over the limit.
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {limit} bytes (limits.max_body_bytes)"),
        )
    }

    /// 500 `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The gRPC status equivalent, with the code in `akidb-error-code` metadata.
    pub fn to_status(&self) -> tonic::Status {
        use tonic::Code;
        let code = match self.status {
            StatusCode::BAD_REQUEST => Code::InvalidArgument,
            StatusCode::NOT_FOUND => Code::NotFound,
            // A state conflict (lost lease, nobody to hand over to) is not "exists already".
            StatusCode::CONFLICT
                if matches!(self.code, "fenced" | "no_follower" | "precondition_failed") =>
            {
                Code::FailedPrecondition
            }
            StatusCode::CONFLICT => Code::AlreadyExists,
            StatusCode::PAYLOAD_TOO_LARGE => Code::ResourceExhausted,
            StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
            StatusCode::INSUFFICIENT_STORAGE => Code::ResourceExhausted,
            StatusCode::UNAUTHORIZED => Code::Unauthenticated,
            StatusCode::FORBIDDEN => Code::PermissionDenied,
            StatusCode::NOT_IMPLEMENTED => Code::Unimplemented,
            StatusCode::GATEWAY_TIMEOUT => Code::DeadlineExceeded,
            _ => Code::Internal,
        };
        let mut status = tonic::Status::new(code, self.message.clone());
        if let Ok(v) = self.code.parse() {
            status.metadata_mut().insert("akidb-error-code", v);
        }
        status
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        if matches!(e.kind(), ErrorKind::Corruption | ErrorKind::Internal) {
            tracing::error!(code = e.code(), "{}", e.message());
        }
        Self::new(status_of(e.kind()), e.code(), e.message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.extensions_mut().insert(ErrorCode(self.code));
        resp
    }
}

/// Marks a response as an error with this code (read by the request log).
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses() {
        let cases = [
            (Error::invalid("x", "m"), 400),
            (Error::collection_not_found("c"), 404),
            (Error::collection_exists("c"), 409),
            (Error::payload_too_large("m"), 413),
            (Error::object_store_unavailable("m"), 503),
            (Error::corruption("m"), 500),
            (Error::internal("m"), 500),
            (Error::io("w", &std::io::Error::from_raw_os_error(28)), 507),
        ];
        for (e, status) in cases {
            let code = e.code();
            let a = ApiError::from(e);
            assert_eq!(a.status.as_u16(), status, "{code}");
            assert_eq!(a.code, code);
        }
        assert_eq!(
            ApiError::unauthorized("x").to_status().code(),
            tonic::Code::Unauthenticated
        );
    }
}
