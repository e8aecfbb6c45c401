//! The baseline: the same figures computed straight from the raw rows (`api_calls`,
//! `tool_calls`, `conversations`), without the aggregate tables, on the same database.
//!
//! The statements of one figure run concurrently on the pool, as the server runs the sections
//! of an export, so that the baseline is as fast as plain SQL over raw rows gets.

use std::collections::BTreeMap;

use anyhow::Context as _;
use sea_orm::{DatabaseConnection, FromQueryResult};
use usage_api::db::Sql;

const DAY_MICROS: i64 = 86_400_000_000;

/// The rows of one user in `[start, end)` (microseconds).
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    pub user: i64,
    pub start_micros: i64,
    pub end_micros: i64,
}

impl Scope {
    fn push_where(&self, sql: &mut Sql) {
        sql.push(" WHERE user_id = ").bind(self.user);
        sql.push(" AND occurred_at_micros >= ")
            .bind(self.start_micros);
        sql.push(" AND occurred_at_micros < ").bind(self.end_micros);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, FromQueryResult)]
pub struct Totals {
    pub api_calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cost_nanos: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Day {
    pub day: i64,
    pub api_calls: i64,
    pub total_tokens: i64,
    pub cost_nanos: i64,
}

#[derive(Debug, FromQueryResult)]
struct Count {
    n: i64,
}

/// The summary figures (UTC days) from raw rows.
#[derive(Debug, Clone, Default)]
pub struct RawSummary {
    pub totals: Totals,
    pub daily: BTreeMap<i64, Day>,
    pub conversations: i64,
}

/// A row of the conversations section; every column is fetched, as the export shows it.
#[allow(dead_code)]
#[derive(Debug, Clone, FromQueryResult)]
pub struct ConversationRow {
    pub external_id: String,
    pub title: Option<String>,
    pub api_calls: i64,
    pub total_tokens: i64,
    pub cost_nanos: i64,
    pub first_at: i64,
    pub last_at: i64,
    pub total_count: i64,
}

/// A row of the tools section; every column is fetched, as the export shows it.
#[allow(dead_code)]
#[derive(Debug, Clone, FromQueryResult)]
pub struct ToolRow {
    pub name: String,
    pub calls: i64,
    pub timed_calls: i64,
    pub execution_time_ms_sum: i64,
    pub successes: i64,
    pub cost_nanos: i64,
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct ModelRow {
    pub model: String,
    pub api_calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cost_nanos: i64,
}

/// Everything a full export shows, from raw rows.
#[derive(Debug, Clone)]
pub struct RawExport {
    pub summary: RawSummary,
    pub conversations: Vec<ConversationRow>,
    pub tools: Vec<ToolRow>,
    pub models: Vec<ModelRow>,
}

const USAGE_SUMS: &str = "CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens, \
CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens, \
CAST(COALESCE(SUM(cache_creation_input_tokens), 0) AS BIGINT) AS cache_creation_input_tokens, \
CAST(COALESCE(SUM(cache_read_input_tokens), 0) AS BIGINT) AS cache_read_input_tokens, \
CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS cost_nanos";

const TOKENS: &str =
    "input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens";

/// The id of a user, by external id.
pub async fn user_id(db: &DatabaseConnection, external_id: &str) -> anyhow::Result<i64> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT id AS n FROM users WHERE external_id = ")
        .bind(external_id);
    Count::find_by_statement(sql.build())
        .one(db)
        .await?
        .map(|row| row.n)
        .with_context(|| format!("no user {external_id} in the database"))
}

/// Rows in a table.
pub async fn count_rows(db: &DatabaseConnection, table: &str) -> anyhow::Result<i64> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table}"
    ));
    Ok(Count::find_by_statement(sql.build())
        .one(db)
        .await?
        .map(|row| row.n)
        .unwrap_or(0))
}

async fn totals(db: &DatabaseConnection, scope: Scope) -> anyhow::Result<Totals> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT CAST(COUNT(*) AS BIGINT) AS api_calls, ")
        .push(USAGE_SUMS)
        .push(" FROM api_calls");
    scope.push_where(&mut sql);
    Ok(Totals::find_by_statement(sql.build())
        .one(db)
        .await?
        .unwrap_or_default())
}

async fn daily(db: &DatabaseConnection, scope: Scope) -> anyhow::Result<BTreeMap<i64, Day>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT occurred_at_micros / {DAY_MICROS} AS day, CAST(COUNT(*) AS BIGINT) AS api_calls, \
         CAST(SUM({TOKENS}) AS BIGINT) AS total_tokens, CAST(SUM(cost_nanos) AS BIGINT) AS cost_nanos FROM api_calls"
    ));
    scope.push_where(&mut sql);
    sql.push(" GROUP BY 1 ORDER BY 1");
    let rows = Day::find_by_statement(sql.build()).all(db).await?;
    Ok(rows.into_iter().map(|row| (row.day, row)).collect())
}

async fn distinct_conversations(db: &DatabaseConnection, scope: Scope) -> anyhow::Result<i64> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT CAST(COUNT(DISTINCT conversation_id) AS BIGINT) AS n FROM api_calls");
    scope.push_where(&mut sql);
    Ok(Count::find_by_statement(sql.build())
        .one(db)
        .await?
        .map(|row| row.n)
        .unwrap_or(0))
}

/// Totals, the UTC daily series and the number of conversations, from raw rows.
pub async fn summary(db: &DatabaseConnection, scope: Scope) -> anyhow::Result<RawSummary> {
    let (totals, daily, conversations) = tokio::try_join!(
        totals(db, scope),
        daily(db, scope),
        distinct_conversations(db, scope)
    )?;
    Ok(RawSummary {
        totals,
        daily,
        conversations,
    })
}

async fn conversations(
    db: &DatabaseConnection,
    scope: Scope,
) -> anyhow::Result<Vec<ConversationRow>> {
    let backend = db.get_database_backend();
    let collate = if backend == sea_orm::DatabaseBackend::Postgres {
        " COLLATE \"C\""
    } else {
        ""
    };
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT c.external_id, c.title, s.api_calls, s.total_tokens, s.cost_nanos, s.first_at, s.last_at, \
         CAST(COUNT(*) OVER () AS BIGINT) AS total_count FROM (SELECT conversation_id, CAST(COUNT(*) AS BIGINT) AS api_calls, \
         CAST(SUM({TOKENS}) AS BIGINT) AS total_tokens, CAST(SUM(cost_nanos) AS BIGINT) AS cost_nanos, \
         MIN(occurred_at_micros) AS first_at, MAX(occurred_at_micros) AS last_at FROM api_calls"
    ));
    scope.push_where(&mut sql);
    sql.push(" AND conversation_id IS NOT NULL GROUP BY conversation_id) AS s JOIN conversations c ON c.id = s.conversation_id");
    sql.push(" ORDER BY s.cost_nanos DESC, c.external_id")
        .push(collate)
        .push(" ASC LIMIT 1000");
    Ok(ConversationRow::find_by_statement(sql.build())
        .all(db)
        .await?)
}

async fn tools(db: &DatabaseConnection, scope: Scope) -> anyhow::Result<Vec<ToolRow>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "SELECT name, CAST(COUNT(*) AS BIGINT) AS calls, \
         CAST(SUM(CASE WHEN execution_time_ms IS NULL THEN 0 ELSE 1 END) AS BIGINT) AS timed_calls, \
         CAST(COALESCE(SUM(execution_time_ms), 0) AS BIGINT) AS execution_time_ms_sum, \
         CAST(SUM(CASE WHEN success THEN 1 ELSE 0 END) AS BIGINT) AS successes, \
         CAST(SUM(cost_nanos) AS BIGINT) AS cost_nanos FROM tool_calls",
    );
    scope.push_where(&mut sql);
    sql.push(" GROUP BY name ORDER BY cost_nanos DESC, name");
    Ok(ToolRow::find_by_statement(sql.build()).all(db).await?)
}

async fn models(db: &DatabaseConnection, scope: Scope) -> anyhow::Result<Vec<ModelRow>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT model, CAST(COUNT(*) AS BIGINT) AS api_calls, ")
        .push(USAGE_SUMS)
        .push(" FROM api_calls");
    scope.push_where(&mut sql);
    sql.push(" GROUP BY model ORDER BY cost_nanos DESC, model");
    Ok(ModelRow::find_by_statement(sql.build()).all(db).await?)
}

/// Every section of a full export (summary with daily series, top 1,000 conversations with
/// their count, tools, models), from raw rows.
pub async fn export(db: &DatabaseConnection, scope: Scope) -> anyhow::Result<RawExport> {
    let (summary, conversations, tools, models) = tokio::try_join!(
        summary(db, scope),
        conversations(db, scope),
        tools(db, scope),
        models(db, scope)
    )?;
    Ok(RawExport {
        summary,
        conversations,
        tools,
        models,
    })
}
