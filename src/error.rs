//! The application's one error type, mapped once to REST responses and once to GraphQL errors.
//! Internal failures are logged with their cause chain and shown to clients as a generic message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;
use serde::Serialize;
use serde_json::json;

/// One problem with one event of an ingest batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventProblem {
    /// Position of the event in the batch (0-based; for NDJSON, the line's event number);
    /// `null` for a problem with the request as a whole.
    pub index: Option<usize>,
    /// Dotted path of the field, e.g. `usage.output_tokens`; empty for the event as a whole.
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No credentials, or credentials that fail any check.
    #[error("Unauthorized")]
    Unauthenticated,
    /// A verified user who has never had an event recorded.
    #[error("User not found")]
    UserNotFound,
    /// A request parameter or argument that is not acceptable; `field` names it as the client
    /// wrote it (`start_date`, `range.start`, …).
    #[error("{message}")]
    InvalidInput { field: String, message: String },
    /// An ingest request that stores nothing because of the problems listed.
    #[error("{message}")]
    InvalidEvents {
        message: String,
        details: Vec<EventProblem>,
    },
    /// A body that is too large for the route.
    #[error("the request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: u64 },
    /// The rendered export is larger than the configured limit.
    #[error("the export would be {size_bytes} bytes, over the limit of {limit_bytes} bytes")]
    ExportTooLarge { size_bytes: u64, limit_bytes: u64 },
    /// The database cannot be reached.
    #[error("the database is unavailable")]
    Unavailable(#[source] DbErr),
    /// Anything else; the cause is logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(error.into())
    }

    /// Logs what the client will not see.
    fn log(&self) {
        match self {
            AppError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error")
            }
            AppError::Unavailable(cause) => tracing::warn!(error = %cause, "database unavailable"),
            _ => {}
        }
    }

    /// The message a client sees.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "Internal server error".to_owned(),
            AppError::Unavailable(_) => {
                "The service is temporarily unavailable; try again shortly".to_owned()
            }
            other => other.to_string(),
        }
    }
}

/// Whether a database error means the database is out of reach rather than the query wrong.
pub fn is_connection_error(error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as SqlxError;
    let is_sqlx_connection = |runtime: &RuntimeErr| match runtime {
        RuntimeErr::SqlxError(inner) => matches!(
            inner.as_ref(),
            SqlxError::Io(_)
                | SqlxError::PoolTimedOut
                | SqlxError::PoolClosed
                | SqlxError::WorkerCrashed
                | SqlxError::Tls(_)
        ),
        _ => false,
    };
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(runtime) | DbErr::Query(runtime) => is_sqlx_connection(runtime),
        _ => false,
    }
}

impl From<DbErr> for AppError {
    fn from(error: DbErr) -> Self {
        if is_connection_error(&error) {
            AppError::Unavailable(error)
        } else {
            AppError::Internal(anyhow::Error::new(error).context("database query failed"))
        }
    }
}

impl From<sea_orm::TransactionError<AppError>> for AppError {
    fn from(error: sea_orm::TransactionError<AppError>) -> Self {
        match error {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(app) => app,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let message = self.public_message();
        let (status, body) = match &self {
            AppError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                json!({"error": message, "code": "UNAUTHENTICATED"}),
            ),
            AppError::UserNotFound => (
                StatusCode::NOT_FOUND,
                json!({"error": message, "code": "USER_NOT_FOUND"}),
            ),
            AppError::InvalidInput { field, .. } => (
                StatusCode::BAD_REQUEST,
                json!({"error": message, "code": "INVALID_PARAMETER", "parameter": field}),
            ),
            AppError::InvalidEvents { details, .. } => (
                StatusCode::BAD_REQUEST,
                json!({"error": message, "code": "INVALID_EVENT", "details": details}),
            ),
            AppError::PayloadTooLarge { limit_bytes } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": message, "code": "PAYLOAD_TOO_LARGE", "limit_bytes": limit_bytes}),
            ),
            AppError::ExportTooLarge {
                size_bytes,
                limit_bytes,
            } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({
                    "error": message,
                    "code": "EXPORT_TOO_LARGE",
                    "size_bytes": size_bytes,
                    "limit_bytes": limit_bytes,
                    "suggestions": [
                        "choose a shorter date range (start_date, end_date)",
                        "include fewer sections (include=summary, tools or models)",
                    ],
                }),
            ),
            AppError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": message, "code": "UNAVAILABLE"}),
            ),
            AppError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": message, "code": "INTERNAL"}),
            ),
        };
        let mut response = (status, Json(body)).into_response();
        if matches!(self, AppError::Unavailable(_)) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

impl AppError {
    /// The GraphQL error for this error, with `extensions.code` (and details where useful).
    ///
    /// async-graphql turns any `Display` value into an error without a code, so resolvers
    /// convert through this, never through `?` on an `AppError` directly.
    pub fn into_graphql(self) -> async_graphql::Error {
        use async_graphql::ErrorExtensions as _;
        let error = self;
        error.log();
        let message = error.public_message();
        let code = match &error {
            AppError::Unauthenticated => "UNAUTHENTICATED",
            AppError::UserNotFound => "USER_NOT_FOUND",
            AppError::InvalidInput { .. }
            | AppError::InvalidEvents { .. }
            | AppError::PayloadTooLarge { .. } => "BAD_USER_INPUT",
            AppError::ExportTooLarge { .. } => "EXPORT_TOO_LARGE",
            AppError::Unavailable(_) => "UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL_SERVER_ERROR",
        };
        async_graphql::Error::new(message).extend_with(|_, extensions| {
            extensions.set("code", code);
            match &error {
                AppError::InvalidInput { field, .. } => extensions.set("field", field.as_str()),
                AppError::ExportTooLarge {
                    size_bytes,
                    limit_bytes,
                } => {
                    extensions.set("sizeBytes", *size_bytes);
                    extensions.set("limitBytes", *limit_bytes);
                }
                _ => {}
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: AppError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[tokio::test]
    async fn rest_mapping() {
        let (status, body) = body_of(AppError::Unauthenticated).await;
        assert_eq!(
            (status, body["code"].as_str(), body["error"].as_str()),
            (
                StatusCode::UNAUTHORIZED,
                Some("UNAUTHENTICATED"),
                Some("Unauthorized")
            )
        );
        let (status, body) = body_of(AppError::UserNotFound).await;
        assert_eq!(
            (status, body["code"].as_str(), body["error"].as_str()),
            (
                StatusCode::NOT_FOUND,
                Some("USER_NOT_FOUND"),
                Some("User not found")
            )
        );
        let (status, body) = body_of(AppError::invalid("start_date", "bad")).await;
        assert_eq!(
            (status, body["code"].as_str(), body["parameter"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                Some("INVALID_PARAMETER"),
                Some("start_date")
            )
        );
        let (status, body) = body_of(AppError::ExportTooLarge {
            size_bytes: 11,
            limit_bytes: 10,
        })
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            (
                body["code"].as_str(),
                body["size_bytes"].as_u64(),
                body["limit_bytes"].as_u64()
            ),
            (Some("EXPORT_TOO_LARGE"), Some(11), Some(10))
        );
        assert!(
            body["suggestions"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
        );
        let (status, body) = body_of(AppError::Unavailable(DbErr::Conn(
            sea_orm::RuntimeErr::Internal("refused".into()),
        )))
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("UNAVAILABLE"))
        );
        assert!(!body.to_string().contains("refused"));
    }

    #[tokio::test]
    async fn internal_errors_are_masked() {
        let (status, body) = body_of(AppError::internal(anyhow::anyhow!(
            "SELECT secret FROM users"
        )))
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, Some("INTERNAL"))
        );
        assert!(!body.to_string().contains("SELECT"));
        let db: AppError = DbErr::Custom("syntax error near SELECT".into()).into();
        let graphql = db.into_graphql();
        assert!(!graphql.message.contains("SELECT"));
    }

    #[test]
    fn graphql_mapping() {
        let code = |error: AppError| {
            let e = error.into_graphql();
            e.extensions
                .and_then(|x| x.get("code").cloned())
                .map(|v| v.to_string())
        };
        assert_eq!(
            code(AppError::Unauthenticated).as_deref(),
            Some("\"UNAUTHENTICATED\"")
        );
        assert_eq!(
            code(AppError::UserNotFound).as_deref(),
            Some("\"USER_NOT_FOUND\"")
        );
        assert_eq!(
            code(AppError::invalid("range.start", "x")).as_deref(),
            Some("\"BAD_USER_INPUT\"")
        );
        assert_eq!(
            code(AppError::internal(anyhow::anyhow!("x"))).as_deref(),
            Some("\"INTERNAL_SERVER_ERROR\"")
        );
        let too_large = AppError::ExportTooLarge {
            size_bytes: 11,
            limit_bytes: 10,
        }
        .into_graphql();
        let ext = too_large.extensions.unwrap_or_default();
        assert_eq!(
            ext.get("sizeBytes").map(|v| v.to_string()).as_deref(),
            Some("11")
        );
        assert_eq!(
            ext.get("limitBytes").map(|v| v.to_string()).as_deref(),
            Some("10")
        );
    }
}
