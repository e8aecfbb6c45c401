//! Application state and the HTTP router: which route goes to which handler, with which limits.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::{NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::{self, Verifier};
use crate::error::{AppError, AppResult};
use crate::export::link::LinkSigner;
use crate::graphql::{self, UsageSchema};
use crate::ingest::PriceTable;
use crate::usage::cache::{FigureCache, UserVersion};
use crate::usage::range::{RangeField, parse_time_zone};
use crate::usage::{DateRange, queries};
use crate::{db, rest};

/// Largest GraphQL request body.
const GRAPHQL_BODY_LIMIT: usize = 256 * 1024;
/// Largest ingest body: 10,000 events with room for titles and tool calls.
pub const INGEST_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Settings read at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub ingest_keys: Vec<String>,
    pub export_max_bytes: u64,
    pub max_range_days: u32,
    /// Origin the service is reached at, without a trailing slash.
    pub public_url: Option<String>,
    /// Memory for computed figures, in bytes; 0 disables the cache.
    pub cache_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            ingest_keys: Vec::new(),
            export_max_bytes: 10 * 1024 * 1024,
            max_range_days: 366,
            public_url: None,
            cache_bytes: crate::usage::cache::DEFAULT_CAPACITY_BYTES,
        }
    }
}

/// How a range's fields are named to the client (GraphQL and REST differ).
#[derive(Debug, Clone, Copy)]
pub struct RangeNames {
    pub start: &'static str,
    pub end: &'static str,
    pub time_zone: &'static str,
}

/// What handlers and resolvers use: the database, settings, keys and prices.
#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub verifier: Verifier,
    pub prices: Arc<PriceTable>,
    pub links: Arc<LinkSigner>,
    /// Figures already computed, per user and data version.
    pub figures: FigureCache,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Services {
    pub fn new(
        db: DatabaseConnection,
        settings: Settings,
        verifier: Verifier,
        prices: PriceTable,
        links: LinkSigner,
    ) -> Self {
        Services {
            db,
            figures: FigureCache::with_capacity(settings.cache_bytes),
            settings: Arc::new(settings),
            verifier,
            prices: Arc::new(prices),
            links: Arc::new(links),
        }
    }

    /// The user behind a verified `sub`, as of their current data version.
    pub async fn user(&self, sub: &str) -> AppResult<UserVersion> {
        queries::find_user(&self.db, sub).await
    }

    /// Applies defaults and limits to a range given by the client.
    pub fn resolve_range(
        &self,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
        time_zone: Option<&str>,
        names: &RangeNames,
    ) -> AppResult<DateRange> {
        let zone = match time_zone {
            Some(name) => parse_time_zone(name).map_err(|message| {
                AppError::invalid(names.time_zone, format!("{}: {message}", names.time_zone))
            })?,
            None => chrono_tz::UTC,
        };
        DateRange::resolve(start, end, zone, self.settings.max_range_days, Utc::now()).map_err(
            |error| {
                let field = match error.field {
                    RangeField::Start => names.start,
                    RangeField::End => names.end,
                    RangeField::TimeZone => names.time_zone,
                };
                AppError::invalid(field, format!("{field}: {}", error.message))
            },
        )
    }
}

/// The verified end user of a request, if any.
pub type Caller = Option<auth::VerifiedUser>;

/// Everything the router's handlers share.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub schema: UsageSchema,
    pub graphiql_html: Arc<String>,
}

impl AppState {
    pub fn new(services: Services, dev_token: Option<&str>) -> Self {
        AppState {
            schema: graphql::build_schema(Some(services.clone())),
            graphiql_html: Arc::new(graphql::graphiql_page(dev_token)),
            services,
        }
    }

    /// Verifies the end-user token of a request (bearer header or `__session` cookie).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Caller {
        let token = auth::token_from_headers(headers)?;
        match self.services.verifier.verify(token).await {
            Ok(user) => Some(user),
            Err(error) => {
                tracing::debug!(%error, "token refused");
                None
            }
        }
    }
}

async fn healthz() -> impl IntoResponse {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"status": "ok"})),
    )
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(2), db::ping(&state.services.db)).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ready"})),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                serde_json::json!({"status": "unavailable", "code": "UNAVAILABLE", "error": "the database is not answering"}),
            ),
        ),
    }
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "no such route", "code": "NOT_FOUND"})),
    )
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/graphql",
            post(graphql::graphql_post)
                .get(graphql::graphql_get)
                .layer(RequestBodyLimitLayer::new(GRAPHQL_BODY_LIMIT)),
        )
        .route("/graphiql", get(graphql::graphiql))
        .route(
            "/api/usage/events",
            post(rest::ingest::ingest_events).layer(DefaultBodyLimit::max(INGEST_BODY_LIMIT)),
        )
        .route("/api/usage/export", get(rest::export::download_export))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .layer(
            TraceLayer::new_for_http()
                // The path only: a download link's query carries a signed token.
                .make_span_with(|request: &axum::http::Request<axum::body::Body>| {
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
                })
                .on_request(())
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        .with_state(state)
}
