//! The GraphQL API: schema, limits, and the HTTP handlers for `/graphql` and `/graphiql`.

pub mod mutation;
pub mod query;
pub mod scalars;
pub mod types;

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::OperationType;
use async_graphql::{EmptySubscription, Schema, ServerError};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::app::{AppState, Caller, Services};
use crate::error::AppError;
use crate::usage::cache::UserVersion;
pub use mutation::Mutation;
pub use query::Query;

pub type UsageSchema = Schema<Query, Mutation, EmptySubscription>;

/// Deepest selection accepted; GraphiQL's introspection query needs 13.
pub const MAX_DEPTH: usize = 20;
/// Most expensive request accepted: each field costs 1, a connection `first` times its selection.
pub const MAX_COMPLEXITY: usize = 10_000;

/// Builds the schema with its limits; `services` is available to every resolver.
pub fn build_schema(services: Option<Services>) -> UsageSchema {
    let mut builder = Schema::build(Query, Mutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(8);
    if let Some(services) = services {
        builder = builder.data(services);
    }
    builder.finish()
}

/// The SDL the server serves (what `usage-api schema` prints and `schema.graphql` holds).
pub fn sdl() -> String {
    build_schema(None).sdl()
}

/// Gives every error an `extensions.code`; errors from resolvers carry theirs already.
fn label_errors(errors: &mut [ServerError]) {
    for error in errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if has_code {
            continue;
        }
        let code = if error.message.contains("Invalid value for argument")
            || error.message.contains("Failed to parse")
            || error.message.contains("Variable \"")
        {
            "BAD_USER_INPUT"
        } else if error.message.starts_with(" --> ")
            || error.message.contains("expected ") && error.locations.is_empty()
        {
            "GRAPHQL_PARSE_FAILED"
        } else {
            "GRAPHQL_VALIDATION_FAILED"
        };
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    request: async_graphql::Request,
) -> GraphQLResponse {
    let caller: Caller = state.authenticate(headers).await;
    let request = request.data(caller).data(UserMemo::default());
    let mut response = state.schema.execute(request).await;
    label_errors(&mut response.errors);
    response.into()
}

/// `POST /graphql`: one operation per request (a JSON array is refused).
pub async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    execute(&state, &headers, request.into_inner()).await
}

/// `GET /graphql`: queries only; a mutation gets 405.
pub async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let request = request.into_inner();
    if is_mutation(&request) {
        let mut response = (
            StatusCode::METHOD_NOT_ALLOWED,
            axum::Json(serde_json::json!({
                "errors": [{"message": "mutations must be sent with POST", "extensions": {"code": "METHOD_NOT_ALLOWED"}}]
            })),
        )
            .into_response();
        response.headers_mut().insert(
            axum::http::header::ALLOW,
            axum::http::HeaderValue::from_static("POST"),
        );
        return response;
    }
    execute(&state, &headers, request).await.into_response()
}

/// Whether the operation a request would run is a mutation.
fn is_mutation(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let wanted = request.operation_name.as_deref();
    document.operations.iter().any(|(name, operation)| {
        (wanted.is_none() || name.map(|n| n.as_str()) == wanted)
            && operation.node.ty == OperationType::Mutation
    })
}

/// The query GraphiQL opens with: every field of the API, ready to run.
pub const EXAMPLE_QUERY: &str = r#"# Usage of the signed-in user over the last 30 days (UTC).
# Change `range` to pick days and a time zone, e.g. {start: "2025-01-01", end: "2025-01-31", timeZone: "Europe/Paris"}.
query Dashboard($range: DateRangeInput) {
  viewer { id }
  usageSummary(range: $range) {
    range { start end timeZone }
    totalCostUsd apiCalls totalTokens inputTokens outputTokens
    cacheCreationInputTokens cacheReadInputTokens conversationCount averageCostPerCallUsd
    daily { date costUsd totalTokens apiCalls }
  }
  conversations(range: $range, first: 10) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id title costUsd totalTokens messageCount firstMessageAt lastMessageAt } }
  }
  toolUsage(range: $range) { name calls averageExecutionTimeMs successRate estimatedCostUsd }
  modelUsage(range: $range) {
    model apiCalls inputTokens outputTokens cacheCreationInputTokens cacheReadInputTokens costUsd shareOfCost
  }
}

# Run this one to get a CSV file and a download link valid for 5 minutes.
mutation Export($range: DateRangeInput) {
  exportUsage(format: CSV, include: [ALL], range: $range) { filename contentType byteSize downloadUrl }
}
"#;

/// The GraphiQL page; with a dev token, its headers editor comes filled with it.
pub fn graphiql_page(dev_token: Option<&str>) -> String {
    let page = GraphiQLSource::build()
        .endpoint("/graphql")
        .title("usage-api GraphiQL")
        .finish();
    let mut options = format!(
        "defaultEditorToolsVisibility: true, defaultQuery: {},",
        serde_json::Value::String(EXAMPLE_QUERY.to_owned())
    );
    if let Some(token) = dev_token {
        let headers = serde_json::json!({ "Authorization": format!("Bearer {token}") }).to_string();
        options.push_str(&format!(
            " defaultHeaders: {}, shouldPersistHeaders: false,",
            serde_json::Value::String(headers)
        ));
    }
    page.replacen("defaultEditorToolsVisibility: true,", &options, 1)
}

/// `GET /graphiql`: the playground.
pub async fn graphiql(State(state): State<AppState>) -> impl IntoResponse {
    Html(state.graphiql_html.as_str().to_owned())
}

/// The caller of a resolver, or `UNAUTHENTICATED`.
pub(crate) fn caller<'a>(
    ctx: &'a async_graphql::Context<'_>,
) -> Result<&'a crate::auth::VerifiedUser, AppError> {
    match ctx.data_opt::<Caller>() {
        Some(Some(user)) => Ok(user),
        _ => Err(AppError::Unauthenticated),
    }
}

/// The signed-in user of a request, looked up once however many fields need it.
#[derive(Debug, Default)]
pub(crate) struct UserMemo(tokio::sync::OnceCell<UserVersion>);

/// The signed-in user as of their current data version: `UNAUTHENTICATED` or `USER_NOT_FOUND`
/// when there is none.
pub(crate) async fn current_user(
    ctx: &async_graphql::Context<'_>,
) -> Result<UserVersion, AppError> {
    let sub = &caller(ctx)?.sub;
    let services = services(ctx)?;
    match ctx.data_opt::<UserMemo>() {
        Some(memo) => memo.0.get_or_try_init(|| services.user(sub)).await.copied(),
        None => services.user(sub).await,
    }
}

/// The services behind the schema.
pub(crate) fn services<'a>(ctx: &'a async_graphql::Context<'_>) -> Result<&'a Services, AppError> {
    ctx.data::<Services>()
        .map_err(|_| AppError::internal(anyhow::anyhow!("schema built without services")))
}
