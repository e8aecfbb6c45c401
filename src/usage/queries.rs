//! The queries behind every figure the API serves, one statement each, read from the
//! aggregate tables that ingestion keeps current.
//!
//! Exactness across time zones: an aggregate row covers a whole hour (or quarter hour) in
//! UTC. A range boundary that falls inside an hour (e.g. midnight in Asia/Kolkata) is handled
//! by reading whole hours from the aggregates and the partial hours at the two ends from the
//! raw rows. The daily series reads hourly buckets when every local midnight of the range falls
//! on the hour, quarter-hour buckets when they fall on a quarter hour (true of every zone in use
//! today), and raw rows otherwise.
//! Conversations carry their own totals and first and last call: one that lies wholly inside a
//! range is read from its row, and only those that span an end of the range are summed over
//! their calls.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect,
};

use super::cache::UserVersion;
use super::range::seconds_per_day;
use super::{
    ConversationPage, ConversationUsage, DailyUsage, DateRange, ModelUsage, Money, ToolUsage,
    USAGE_COLUMNS, UsageSummary, UsageTotals, UserId,
};
use crate::db::Sql;
use crate::error::{AppError, AppResult};

const HOUR: i64 = 3_600;
const QUARTER_HOUR: i64 = 900;
const MICROS: i64 = 1_000_000;

/// The user behind a verified `sub`, with their current data version; a user who never had an
/// event recorded is not found.
pub async fn find_user(db: &impl ConnectionTrait, external_id: &str) -> AppResult<UserVersion> {
    entity::user::Entity::find()
        .select_only()
        .column(entity::user::Column::Id)
        .column(entity::user::Column::DataVersion)
        .filter(entity::user::Column::ExternalId.eq(external_id))
        .into_tuple::<(i64, i64)>()
        .one(db)
        .await?
        .map(|(id, data_version)| UserVersion {
            id: UserId(id),
            data_version,
        })
        .ok_or(AppError::UserNotFound)
}

/// `CAST(SUM(x) AS BIGINT)`: PostgreSQL sums `BIGINT` into `NUMERIC`.
fn sum(column: &str) -> String {
    format!("CAST(SUM({column}) AS BIGINT) AS {column}")
}

/// Byte-wise text ordering, identical on both engines.
fn bytewise(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => " COLLATE \"C\"",
        _ => "",
    }
}

/// The instants of a range split into whole UTC hours (for the hourly aggregates) and the
/// partial hours at each end (read from raw rows), all in Unix seconds.
struct Window {
    hours: (i64, i64),
    edges: Vec<(i64, i64)>,
}

impl Window {
    fn of(range: &DateRange) -> Window {
        let (start, end) = (range.start_instant(), range.end_instant());
        let first_hour = start + (HOUR - start.rem_euclid(HOUR)) % HOUR;
        let last_hour = (end - end.rem_euclid(HOUR)).max(first_hour);
        let edges = [(start, first_hour.min(end)), (last_hour.max(start), end)]
            .into_iter()
            .filter(|(from, to)| from < to)
            .collect();
        Window {
            hours: (first_hour, last_hour),
            edges,
        }
    }

    /// ` AND (occurred_at_micros in one of the edges)`; `None` when the range is hour-aligned.
    fn push_edges(&self, sql: &mut Sql) -> bool {
        if self.edges.is_empty() {
            return false;
        }
        sql.push(" AND (");
        for (position, (from, to)) in self.edges.iter().enumerate() {
            sql.push(if position == 0 { "(" } else { " OR (" });
            sql.push("occurred_at_micros >= ").bind(from * MICROS);
            sql.push(" AND occurred_at_micros < ")
                .bind(to * MICROS)
                .push(")");
        }
        sql.push(")");
        true
    }

    fn push_hours(&self, sql: &mut Sql) {
        sql.push(" AND bucket_start >= ").bind(self.hours.0);
        sql.push(" AND bucket_start < ").bind(self.hours.1);
    }
}

/// SQL for the local day number of an instant column holding `per_second` units per second.
fn local_day_expression(column: &str, per_second: i64, pieces: &[(i64, i32)]) -> String {
    let seconds = if per_second == 1 {
        column.to_owned()
    } else {
        format!("({column} / {per_second})")
    };
    let offset = match pieces {
        [] => "0".to_owned(),
        [(_, only)] => only.to_string(),
        [(_, first), rest @ ..] => {
            let mut case = String::from("CASE");
            let mut current = first;
            for (from, offset) in rest {
                case.push_str(&format!(" WHEN {seconds} < {from} THEN {current}"));
                current = offset;
            }
            case.push_str(&format!(" ELSE {current} END"));
            case
        }
    };
    format!("(({seconds} + {offset}) / {})", seconds_per_day())
}

/// The usage columns of a result row.
#[derive(Debug, FromQueryResult)]
struct TotalsRow {
    api_calls: i64,
    input_tokens: i64,
    output_tokens: i64,
    cache_creation_input_tokens: i64,
    cache_read_input_tokens: i64,
    cost_nanos: i64,
}

impl From<&TotalsRow> for UsageTotals {
    fn from(row: &TotalsRow) -> Self {
        UsageTotals {
            api_calls: row.api_calls,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            cache_creation_input_tokens: row.cache_creation_input_tokens,
            cache_read_input_tokens: row.cache_read_input_tokens,
            cost: Money::from_nanos(row.cost_nanos),
        }
    }
}

#[derive(Debug, FromQueryResult)]
struct DayRow {
    day: i64,
    #[sea_orm(nested)]
    totals: TotalsRow,
}

/// Marks the row that carries the conversation count in the summary statement.
const COUNT_ROW: i64 = i64::MIN;

/// Totals, conversation count and the zero-filled daily series of a range, in one statement.
pub async fn usage_summary(
    db: &impl ConnectionTrait,
    user: UserId,
    range: &DateRange,
) -> AppResult<UsageSummary> {
    let backend = db.get_database_backend();
    let day_starts = range.day_starts();
    let (start, end) = (range.start_instant(), range.end_instant());
    let pieces = range.offset_pieces();
    let usage_columns = &USAGE_COLUMNS[1..];
    let mut sql = Sql::new(backend);
    // The coarsest buckets that no day boundary splits: hours, quarter hours, or raw rows.
    let aligned = |bucket: i64| {
        day_starts
            .iter()
            .all(|instant| instant.rem_euclid(bucket) == 0)
    };
    let bucket_table = if aligned(HOUR) {
        Some("usage_user_hourly")
    } else if aligned(QUARTER_HOUR) {
        Some("usage_quarter_hourly")
    } else {
        None
    };
    if let Some(table) = bucket_table {
        sql.push("SELECT ")
            .push(&local_day_expression("bucket_start", 1, &pieces))
            .push(" AS day, ");
        sql.push(&sum("api_calls"));
        for column in usage_columns {
            sql.push(", ").push(&sum(column));
        }
        sql.push(" FROM ")
            .push(table)
            .push(" WHERE user_id = ")
            .bind(user.0);
        sql.push(" AND bucket_start >= ")
            .bind(start)
            .push(" AND bucket_start < ")
            .bind(end);
    } else {
        sql.push("SELECT ")
            .push(&local_day_expression("occurred_at_micros", MICROS, &pieces))
            .push(" AS day, ");
        sql.push("CAST(COUNT(*) AS BIGINT) AS api_calls");
        for column in usage_columns {
            sql.push(", ").push(&sum(column));
        }
        sql.push(" FROM api_calls WHERE user_id = ").bind(user.0);
        sql.push(" AND occurred_at_micros >= ").bind(start * MICROS);
        sql.push(" AND occurred_at_micros < ").bind(end * MICROS);
    }
    sql.push(" GROUP BY 1 UNION ALL SELECT ")
        .bind(COUNT_ROW)
        .push(", CAST(COUNT(*) AS BIGINT), 0, 0, 0, 0, 0 FROM conversations c WHERE ");
    push_active_conversations(&mut sql, user, start, end);

    let rows = DayRow::find_by_statement(sql.build()).all(db).await?;
    let mut conversation_count = 0;
    let mut by_day: HashMap<i64, &DayRow> = HashMap::with_capacity(rows.len());
    for row in &rows {
        if row.day == COUNT_ROW {
            conversation_count = row.totals.api_calls;
        } else {
            by_day.insert(row.day, row);
        }
    }
    let mut totals = UsageTotals::default();
    let daily = range
        .days()
        .map(|date| {
            let day = by_day
                .get(&DateRange::local_day_number(date))
                .map(|row| UsageTotals::from(&row.totals))
                .unwrap_or_default();
            totals.add(&day);
            DailyUsage {
                date,
                cost: day.cost,
                total_tokens: day.total_tokens(),
                api_calls: day.api_calls,
            }
        })
        .collect();
    Ok(UsageSummary {
        range: range.clone(),
        totals,
        conversation_count,
        daily,
    })
}

/// Position in the conversation order (cost descending, then id), opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationCursor {
    pub cost: Money,
    pub id: String,
}

impl ConversationCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.cost.nanos(), self.id))
    }

    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (cost, id) = text.split_once(':')?;
        Some(ConversationCursor {
            cost: Money::from_nanos(cost.parse().ok()?),
            id: id.to_owned(),
        })
    }

    pub fn of(conversation: &ConversationUsage) -> Self {
        ConversationCursor {
            cost: conversation.cost,
            id: conversation.id.clone(),
        }
    }
}

/// `c` (a conversation of `user`) has a call in `[start, end)` (Unix seconds). One whose first
/// and last call both lie inside needs no look at its calls; one that spans an end of the range
/// is checked on its calls in the range (index on conversation and time).
fn push_active_conversations(sql: &mut Sql, user: UserId, start: i64, end: i64) {
    let (start, end) = (start * MICROS, end * MICROS);
    sql.push("c.user_id = ").bind(user.0);
    sql.push(" AND c.last_at_micros >= ").bind(start);
    sql.push(" AND c.first_at_micros < ").bind(end);
    sql.push(" AND ((c.first_at_micros >= ").bind(start);
    sql.push(" AND c.last_at_micros < ").bind(end);
    sql.push(") OR EXISTS (SELECT 1 FROM api_calls a WHERE a.conversation_id = c.id AND a.occurred_at_micros >= ")
        .bind(start);
    sql.push(" AND a.occurred_at_micros < ")
        .bind(end)
        .push("))");
}

#[derive(Debug, FromQueryResult)]
struct ConversationRow {
    external_id: String,
    title: Option<String>,
    api_calls: i64,
    total_tokens: i64,
    cost_nanos: i64,
    first_at: i64,
    last_at: i64,
    total_count: i64,
}

fn instant(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// Conversations with calls in the range, by cost descending then id: `first` of them after
/// `after`, with the number of all of them.
///
/// A conversation whose calls all lie inside the range is read from its own totals; one that
/// spans an end of the range is summed over its calls inside the range.
pub async fn conversations(
    db: &impl ConnectionTrait,
    user: UserId,
    range: &DateRange,
    first: u64,
    after: Option<&ConversationCursor>,
) -> AppResult<ConversationPage> {
    let backend = db.get_database_backend();
    let collate = bytewise(backend);
    let (start, end) = (range.start_instant() * MICROS, range.end_instant() * MICROS);
    let mut sql = Sql::new(backend);
    sql.push("SELECT * FROM (SELECT external_id, title, api_calls, total_tokens, cost_nanos, first_at, last_at, ");
    sql.push("CAST(COUNT(*) OVER () AS BIGINT) AS total_count FROM (");
    sql.push(
        "SELECT c.external_id, c.title, c.api_calls, c.total_tokens, c.cost_nanos, \
         c.first_at_micros AS first_at, c.last_at_micros AS last_at FROM conversations c WHERE c.user_id = ",
    );
    sql.bind(user.0);
    sql.push(" AND c.last_at_micros >= ").bind(start);
    sql.push(" AND c.first_at_micros >= ").bind(start);
    sql.push(" AND c.last_at_micros < ").bind(end);
    sql.push(
        " UNION ALL SELECT c.external_id, c.title, CAST(COUNT(*) AS BIGINT), CAST(SUM(a.input_tokens + a.output_tokens \
         + a.cache_creation_input_tokens + a.cache_read_input_tokens) AS BIGINT), CAST(SUM(a.cost_nanos) AS BIGINT), \
         MIN(a.occurred_at_micros), MAX(a.occurred_at_micros) FROM conversations c JOIN api_calls a \
         ON a.conversation_id = c.id AND a.occurred_at_micros >= ",
    );
    sql.bind(start)
        .push(" AND a.occurred_at_micros < ")
        .bind(end);
    sql.push(" WHERE c.user_id = ").bind(user.0);
    sql.push(" AND c.last_at_micros >= ").bind(start);
    sql.push(" AND c.first_at_micros < ").bind(end);
    sql.push(" AND (c.first_at_micros < ").bind(start);
    sql.push(" OR c.last_at_micros >= ").bind(end);
    sql.push(") GROUP BY c.id, c.external_id, c.title) AS in_range) AS ranked");
    if let Some(cursor) = after {
        sql.push(" WHERE cost_nanos < ").bind(cursor.cost.nanos());
        sql.push(" OR (cost_nanos = ").bind(cursor.cost.nanos());
        sql.push(" AND external_id")
            .push(collate)
            .push(" > ")
            .bind(cursor.id.as_str())
            .push(")");
    }
    sql.push(" ORDER BY cost_nanos DESC, external_id")
        .push(collate)
        .push(" ASC LIMIT ");
    sql.bind(i64::try_from(first.saturating_add(1)).unwrap_or(i64::MAX));

    let mut rows = ConversationRow::find_by_statement(sql.build())
        .all(db)
        .await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    let total_count = match rows.first() {
        Some(row) => row.total_count,
        None if after.is_some() => count_conversations(db, user, range).await?,
        None => 0,
    };
    let items = rows
        .into_iter()
        .map(|row| ConversationUsage {
            id: row.external_id,
            title: row.title,
            cost: Money::from_nanos(row.cost_nanos),
            total_tokens: row.total_tokens,
            message_count: row.api_calls,
            first_message_at: instant(row.first_at),
            last_message_at: instant(row.last_at),
        })
        .collect();
    Ok(ConversationPage {
        items,
        total_count,
        has_next_page,
    })
}

/// Number of conversations with at least one call in the range.
pub async fn count_conversations(
    db: &impl ConnectionTrait,
    user: UserId,
    range: &DateRange,
) -> AppResult<i64> {
    #[derive(FromQueryResult)]
    struct Count {
        count: i64,
    }
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT CAST(COUNT(*) AS BIGINT) AS count FROM conversations c WHERE ");
    push_active_conversations(&mut sql, user, range.start_instant(), range.end_instant());
    let count = Count::find_by_statement(sql.build()).one(db).await?;
    Ok(count.map(|c| c.count).unwrap_or(0))
}

#[derive(Debug, FromQueryResult)]
struct ToolRow {
    name: String,
    calls: i64,
    timed_calls: i64,
    execution_time_ms_sum: i64,
    successes: i64,
    cost_nanos: i64,
}

/// Each tool's calls in the range, by estimated cost descending, then name.
pub async fn tool_usage(
    db: &impl ConnectionTrait,
    user: UserId,
    range: &DateRange,
) -> AppResult<Vec<ToolUsage>> {
    let backend = db.get_database_backend();
    let window = Window::of(range);
    let mut sql = Sql::new(backend);
    sql.push("SELECT name, ");
    sql.push(
        &[
            "calls",
            "timed_calls",
            "execution_time_ms_sum",
            "successes",
            "cost_nanos",
        ]
        .map(sum)
        .join(", "),
    );
    sql.push(" FROM (SELECT name, calls, timed_calls, execution_time_ms_sum, successes, cost_nanos FROM tool_hourly WHERE user_id = ");
    sql.bind(user.0);
    window.push_hours(&mut sql);
    if !window.edges.is_empty() {
        sql.push(
            " UNION ALL SELECT name, 1, CASE WHEN execution_time_ms IS NULL THEN 0 ELSE 1 END, COALESCE(execution_time_ms, 0), \
             CASE WHEN success THEN 1 ELSE 0 END, cost_nanos FROM tool_calls WHERE user_id = ",
        );
        sql.bind(user.0);
        window.push_edges(&mut sql);
    }
    sql.push(") AS parts GROUP BY name ORDER BY cost_nanos DESC, name")
        .push(bytewise(backend));
    let rows = ToolRow::find_by_statement(sql.build()).all(db).await?;
    Ok(rows
        .into_iter()
        .map(|row| ToolUsage {
            average_execution_time_ms: if row.timed_calls == 0 {
                0.0
            } else {
                row.execution_time_ms_sum as f64 / row.timed_calls as f64
            },
            success_rate: if row.calls == 0 {
                0.0
            } else {
                row.successes as f64 / row.calls as f64
            },
            estimated_cost: Money::from_nanos(row.cost_nanos),
            calls: row.calls,
            name: row.name,
        })
        .collect())
}

#[derive(Debug, FromQueryResult)]
struct ModelRow {
    model: String,
    #[sea_orm(nested)]
    totals: TotalsRow,
}

/// Each model's calls in the range, by cost descending, then model id.
pub async fn model_usage(
    db: &impl ConnectionTrait,
    user: UserId,
    range: &DateRange,
) -> AppResult<Vec<ModelUsage>> {
    let backend = db.get_database_backend();
    let window = Window::of(range);
    let columns = USAGE_COLUMNS;
    let mut sql = Sql::new(backend);
    sql.push("SELECT model, ")
        .push(&columns.map(sum).join(", "));
    sql.push(" FROM (SELECT model, ")
        .push(&columns.join(", "))
        .push(" FROM usage_hourly WHERE user_id = ")
        .bind(user.0);
    window.push_hours(&mut sql);
    if !window.edges.is_empty() {
        sql.push(" UNION ALL SELECT model, 1, ")
            .push(&columns[1..].join(", "))
            .push(" FROM api_calls WHERE user_id = ");
        sql.bind(user.0);
        window.push_edges(&mut sql);
    }
    sql.push(") AS parts GROUP BY model ORDER BY cost_nanos DESC, model")
        .push(bytewise(backend));
    let rows = ModelRow::find_by_statement(sql.build()).all(db).await?;
    let total: Money = rows
        .iter()
        .map(|row| Money::from_nanos(row.totals.cost_nanos))
        .sum();
    Ok(rows
        .into_iter()
        .map(|row| {
            let totals = UsageTotals::from(&row.totals);
            ModelUsage {
                model: row.model,
                share_of_cost: totals.cost.fraction_of(total),
                totals,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let cursor = ConversationCursor {
            cost: Money::from_nanos(1234),
            id: "conv:with:colons".to_owned(),
        };
        assert_eq!(ConversationCursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(ConversationCursor::decode("not base64!"), None);
        assert_eq!(
            ConversationCursor::decode(&URL_SAFE_NO_PAD.encode("x:y")),
            None
        );
    }

    #[test]
    fn local_day_expression_uses_offset_pieces() {
        assert_eq!(local_day_expression("b", 1, &[(0, 0)]), "((b + 0) / 86400)");
        assert_eq!(
            local_day_expression("t", MICROS, &[(0, -28800), (100, -25200)]),
            "(((t / 1000000) + CASE WHEN (t / 1000000) < 100 THEN -28800 ELSE -25200 END) / 86400)"
        );
    }

    #[test]
    fn windows_split_partial_hours() {
        let day = |zone| {
            let date = crate::usage::range::parse_date("2025-01-01").unwrap_or_default();
            DateRange::resolve(Some(date), Some(date), zone, 366, Utc::now())
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let utc = Window::of(&day(chrono_tz::UTC));
        assert!(utc.edges.is_empty());
        assert_eq!(utc.hours.1 - utc.hours.0, 86_400);
        let kolkata = Window::of(&day(chrono_tz::Asia::Kolkata));
        assert_eq!(kolkata.edges.len(), 2);
        assert_eq!(kolkata.hours.1 - kolkata.hours.0, 23 * 3600);
        assert_eq!(kolkata.edges.iter().map(|(a, b)| b - a).sum::<i64>(), 3600);
    }
}
