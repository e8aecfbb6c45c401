//! `POST /api/usage/events`: service-to-service ingestion, authenticated by ingest keys.

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use chrono::Utc;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::{AppState, INGEST_BODY_LIMIT};
use crate::error::{AppError, AppResult, EventProblem};
use crate::ingest::{self, BatchFormat, IngestOutcome};

/// Whether `presented` is one of `keys`, compared in constant time (over SHA-256 digests,
/// so that not even the length of a key leaks).
pub fn is_ingest_key(keys: &[String], presented: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    keys.iter()
        .filter(|key| !key.is_empty())
        .fold(subtle::Choice::from(0), |found, key| {
            found | Sha256::digest(key.as_bytes()).ct_eq(&presented)
        })
        .into()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn batch_format(headers: &HeaderMap) -> AppResult<BatchFormat> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(BatchFormat::Json),
        "application/x-ndjson" | "application/jsonl" | "application/ndjson" => {
            Ok(BatchFormat::Ndjson)
        }
        _ => Err(AppError::InvalidEvents {
            message: format!(
                "unsupported Content-Type \"{content_type}\"; send application/json or application/x-ndjson"
            ),
            details: vec![EventProblem {
                index: None,
                field: "Content-Type".to_owned(),
                message: "must be application/json or application/x-ndjson".to_owned(),
            }],
        }),
    }
}

/// Records a batch of usage events, all or nothing, exactly once per (user, event id).
pub async fn ingest_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Json<IngestOutcome>> {
    let services = &state.services;
    match bearer(&headers) {
        Some(key) if is_ingest_key(&services.settings.ingest_keys, key) => {}
        _ => return Err(AppError::Unauthenticated),
    }
    let format = batch_format(&headers)?;
    let body = to_bytes(body, INGEST_BODY_LIMIT)
        .await
        .map_err(|_| AppError::PayloadTooLarge {
            limit_bytes: INGEST_BODY_LIMIT as u64,
        })?;
    let prices = services.prices.clone();
    let events = tokio::task::spawn_blocking(move || {
        ingest::parse_batch(format, &body, &prices, Utc::now())
    })
    .await
    .map_err(AppError::internal)??;
    let outcome = ingest::store_events(&services.db, events).await?;
    tracing::info!(
        inserted = outcome.inserted,
        duplicates = outcome.duplicates,
        "events ingested"
    );
    Ok(Json(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_keys_match_exactly() {
        let keys = vec!["alpha".to_owned(), "beta-key".to_owned()];
        assert!(is_ingest_key(&keys, "alpha"));
        assert!(is_ingest_key(&keys, "beta-key"));
        assert!(!is_ingest_key(&keys, "alph"));
        assert!(!is_ingest_key(&keys, "alphaa"));
        assert!(!is_ingest_key(&keys, ""));
        assert!(!is_ingest_key(&[], "alpha"));
        assert!(!is_ingest_key(&[String::new()], ""));
    }
}
