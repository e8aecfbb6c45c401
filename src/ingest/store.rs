//! Stores a validated batch in one transaction: users, conversations, API calls and tool calls,
//! and every aggregate table, so that reads never see an event without its aggregates.
//!
//! Exactly once: API calls are inserted with `ON CONFLICT DO NOTHING … RETURNING`, and only
//! the rows that came back (really inserted) feed tool calls, titles and aggregates.

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, FromQueryResult, TransactionTrait,
};

use super::wire::NewEvent;
use crate::db::Sql;
use crate::error::{AppError, AppResult};
use crate::usage::{Money, USAGE_COLUMNS};

/// Rows per multi-row statement, largest first: well under SQLite's 32,766 and PostgreSQL's
/// 65,535 parameters. Only these sizes are used, so that each kind of statement has a handful of
/// texts, prepared once per connection and then reused from the statement cache, instead of a
/// new text (and a new parse of a large statement) for every batch.
const STATEMENT_ROWS: [usize; 6] = [1_000, 256, 64, 16, 4, 1];

/// `rows` cut into chunks whose sizes are all in [`STATEMENT_ROWS`], largest first.
fn statement_chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let size = STATEMENT_ROWS
            .iter()
            .copied()
            .find(|size| *size <= rest.len())?;
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}
const HOUR: i64 = 3_600;
const QUARTER_HOUR: i64 = 900;

/// What a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct IngestOutcome {
    pub inserted: u64,
    pub duplicates: u64,
}

/// Stores `events` (already validated) exactly once, all or nothing.
pub async fn store_events(
    db: &DatabaseConnection,
    events: Vec<NewEvent>,
) -> AppResult<IngestOutcome> {
    let total = events.len() as u64;
    // A repeated (user, id) inside the batch is a duplicate of its first occurrence.
    let mut seen = HashSet::with_capacity(events.len());
    let events: Vec<NewEvent> = events
        .into_iter()
        .filter(|event| seen.insert((event.user.clone(), event.event_id.clone())))
        .collect();
    if events.is_empty() {
        return Ok(IngestOutcome {
            inserted: 0,
            duplicates: total,
        });
    }
    let txn = db.begin().await?;
    let inserted = store_in(&txn, &events).await?;
    txn.commit().await?;
    Ok(IngestOutcome {
        inserted,
        duplicates: total - inserted,
    })
}

async fn store_in(txn: &DatabaseTransaction, events: &[NewEvent]) -> AppResult<u64> {
    let users = ensure_users(txn, events).await?;
    let conversations = ensure_conversations(txn, events, &users).await?;
    let inserted = insert_api_calls(txn, events, &users, &conversations).await?;
    if inserted.is_empty() {
        return Ok(0);
    }
    bump_data_versions(txn, &inserted).await?;
    insert_tool_calls(txn, events, &inserted).await?;
    update_conversations(txn, events, &inserted, &conversations).await?;
    update_aggregates(txn, events, &inserted).await?;
    Ok(inserted.len() as u64)
}

#[derive(FromQueryResult)]
struct IdRow {
    id: i64,
    external_id: String,
}

/// Creates missing users; returns the id of every user of the batch.
async fn ensure_users(
    txn: &DatabaseTransaction,
    events: &[NewEvent],
) -> AppResult<HashMap<String, i64>> {
    let names: Vec<&str> = {
        let mut set: Vec<&str> = events.iter().map(|e| e.user.as_str()).collect();
        set.sort_unstable();
        set.dedup();
        set
    };
    let backend = txn.get_database_backend();
    let mut ids = HashMap::with_capacity(names.len());
    for chunk in statement_chunks(&names) {
        let mut insert = Sql::new(backend);
        insert.push("INSERT INTO users (external_id) VALUES ");
        for (position, name) in chunk.iter().enumerate() {
            insert
                .push(if position == 0 { "(" } else { ", (" })
                .bind(*name)
                .push(")");
        }
        insert.push(" ON CONFLICT (external_id) DO NOTHING");
        txn.execute_raw(insert.build()).await?;

        let mut select = Sql::new(backend);
        select.push("SELECT id, external_id FROM users WHERE external_id IN (");
        for (position, name) in chunk.iter().enumerate() {
            select
                .push(if position == 0 { "" } else { ", " })
                .bind(*name);
        }
        select.push(")");
        for row in IdRow::find_by_statement(select.build()).all(txn).await? {
            ids.insert(row.external_id, row.id);
        }
    }
    Ok(ids)
}

/// Creates missing conversations; returns the id of every (user, conversation) of the batch.
async fn ensure_conversations(
    txn: &DatabaseTransaction,
    events: &[NewEvent],
    users: &HashMap<String, i64>,
) -> AppResult<HashMap<(i64, String), i64>> {
    let mut keys: Vec<(i64, &str)> = events
        .iter()
        .filter_map(|e| Some((*users.get(&e.user)?, e.conversation.as_deref()?)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let backend = txn.get_database_backend();
    let mut ids = HashMap::with_capacity(keys.len());
    for chunk in statement_chunks(&keys) {
        let mut insert = Sql::new(backend);
        insert.push("INSERT INTO conversations (user_id, external_id) VALUES ");
        for (position, (user, external)) in chunk.iter().enumerate() {
            insert.push(if position == 0 { "(" } else { ", (" });
            insert.bind(*user).push(", ").bind(*external).push(")");
        }
        insert.push(" ON CONFLICT (user_id, external_id) DO NOTHING");
        txn.execute_raw(insert.build()).await?;

        #[derive(FromQueryResult)]
        struct ConversationRow {
            id: i64,
            user_id: i64,
            external_id: String,
        }
        let mut select = Sql::new(backend);
        select.push("SELECT id, user_id, external_id FROM conversations WHERE ");
        for (position, (user, external)) in chunk.iter().enumerate() {
            select.push(if position == 0 { "(" } else { " OR (" });
            select
                .push("user_id = ")
                .bind(*user)
                .push(" AND external_id = ")
                .bind(*external)
                .push(")");
        }
        for row in ConversationRow::find_by_statement(select.build())
            .all(txn)
            .await?
        {
            ids.insert((row.user_id, row.external_id), row.id);
        }
    }
    Ok(ids)
}

/// A stored API call: its row id and the index of its event in the batch.
#[derive(Debug, Clone, Copy)]
struct InsertedCall {
    id: i64,
    event: usize,
    user: i64,
}

/// Inserts the calls that are new; returns them (duplicates come back as nothing).
async fn insert_api_calls(
    txn: &DatabaseTransaction,
    events: &[NewEvent],
    users: &HashMap<String, i64>,
    conversations: &HashMap<(i64, String), i64>,
) -> AppResult<Vec<InsertedCall>> {
    let backend = txn.get_database_backend();
    let mut by_key: HashMap<(i64, &str), usize> = HashMap::with_capacity(events.len());
    let mut inserted = Vec::with_capacity(events.len());
    let indexed: Vec<(usize, &NewEvent, i64)> = events
        .iter()
        .enumerate()
        .filter_map(|(index, event)| Some((index, event, *users.get(&event.user)?)))
        .collect();
    for chunk in statement_chunks(&indexed) {
        let mut insert = Sql::new(backend);
        insert.push(
            "INSERT INTO api_calls (user_id, event_id, conversation_id, model, input_tokens, output_tokens, \
             cache_creation_input_tokens, cache_read_input_tokens, cost_nanos, occurred_at_micros, tool_call_count) VALUES ",
        );
        for (position, (index, event, user)) in chunk.iter().enumerate() {
            by_key.insert((*user, event.event_id.as_str()), *index);
            let conversation = event
                .conversation
                .as_ref()
                .and_then(|external| conversations.get(&(*user, external.clone())).copied());
            insert.push(if position == 0 { "(" } else { ", (" });
            insert
                .bind(*user)
                .push(", ")
                .bind(event.event_id.as_str())
                .push(", ")
                .bind(conversation)
                .push(", ")
                .bind(event.model.as_str())
                .push(", ")
                .bind(event.tokens.input)
                .push(", ")
                .bind(event.tokens.output)
                .push(", ")
                .bind(event.tokens.cache_creation)
                .push(", ")
                .bind(event.tokens.cache_read)
                .push(", ")
                .bind(event.cost.nanos())
                .push(", ")
                .bind(event.occurred_at_micros)
                .push(", ")
                .bind(i32::try_from(event.tools.len()).unwrap_or(i32::MAX))
                .push(")");
        }
        insert.push(" ON CONFLICT (user_id, event_id) DO NOTHING RETURNING id, user_id, event_id");

        #[derive(FromQueryResult)]
        struct Returned {
            id: i64,
            user_id: i64,
            event_id: String,
        }
        for row in Returned::find_by_statement(insert.build()).all(txn).await? {
            let event = by_key
                .get(&(row.user_id, row.event_id.as_str()))
                .copied()
                .ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!("inserted call {} not in the batch", row.id))
                })?;
            inserted.push(InsertedCall {
                id: row.id,
                event,
                user: row.user_id,
            });
        }
    }
    // Batch order decides ties (e.g. two titles at the same instant): keep it.
    inserted.sort_unstable_by_key(|call| call.event);
    Ok(inserted)
}

/// Marks the users whose events were stored as changed, so that no figure cached before is
/// served again.
async fn bump_data_versions(txn: &DatabaseTransaction, inserted: &[InsertedCall]) -> AppResult<()> {
    let mut users: Vec<i64> = inserted.iter().map(|call| call.user).collect();
    users.sort_unstable();
    users.dedup();
    for chunk in statement_chunks(&users) {
        let mut sql = Sql::new(txn.get_database_backend());
        sql.push("UPDATE users SET data_version = data_version + 1 WHERE id IN (");
        for (position, user) in chunk.iter().enumerate() {
            sql.push(if position == 0 { "" } else { ", " }).bind(*user);
        }
        sql.push(")");
        txn.execute_raw(sql.build()).await?;
    }
    Ok(())
}

/// Inserts the tool calls of new API calls, each with an exact share of its call's cost.
async fn insert_tool_calls(
    txn: &DatabaseTransaction,
    events: &[NewEvent],
    inserted: &[InsertedCall],
) -> AppResult<()> {
    let backend = txn.get_database_backend();
    let rows: Vec<(&InsertedCall, &super::wire::NewToolCall, Money)> = inserted
        .iter()
        .flat_map(|call| {
            let event = &events[call.event];
            event
                .tools
                .iter()
                .zip(event.cost.split(event.tools.len()))
                .map(move |(tool, share)| (call, tool, share))
        })
        .collect();
    for chunk in statement_chunks(&rows) {
        let mut insert = Sql::new(backend);
        insert.push("INSERT INTO tool_calls (api_call_id, user_id, name, execution_time_ms, success, cost_nanos, occurred_at_micros) VALUES ");
        for (position, (call, tool, share)) in chunk.iter().enumerate() {
            insert.push(if position == 0 { "(" } else { ", (" });
            insert
                .bind(call.id)
                .push(", ")
                .bind(call.user)
                .push(", ")
                .bind(tool.name.as_str())
                .push(", ")
                .bind(tool.execution_time_ms)
                .push(", ")
                .bind(tool.success)
                .push(", ")
                .bind(share.nanos())
                .push(", ")
                .bind(events[call.event].occurred_at_micros)
                .push(")");
        }
        txn.execute_raw(insert.build()).await?;
    }
    Ok(())
}

/// What a batch adds to one conversation.
struct ConversationSums<'a> {
    user: i64,
    external_id: &'a str,
    api_calls: i64,
    tokens: i64,
    cost: i64,
    first: i64,
    last: i64,
    /// The batch's most recent titled event: its title and when it occurred.
    title: Option<(&'a str, i64)>,
}

/// Adds the new calls to their conversations' totals, first and last call, and title: a
/// conversation's title is the one carried by its most recent titled event (a later event of
/// the batch wins a tie).
async fn update_conversations(
    txn: &DatabaseTransaction,
    events: &[NewEvent],
    inserted: &[InsertedCall],
    conversations: &HashMap<(i64, String), i64>,
) -> AppResult<()> {
    let mut sums: BTreeMap<i64, ConversationSums<'_>> = BTreeMap::new();
    for call in inserted {
        let event = &events[call.event];
        let Some(external) = &event.conversation else {
            continue;
        };
        let Some(conversation) = conversations.get(&(call.user, external.clone())) else {
            continue;
        };
        let at = event.occurred_at_micros;
        let entry = sums.entry(*conversation).or_insert(ConversationSums {
            user: call.user,
            external_id: external,
            api_calls: 0,
            tokens: 0,
            cost: 0,
            first: at,
            last: at,
            title: None,
        });
        entry.api_calls += 1;
        entry.tokens += event.tokens.total();
        entry.cost += event.cost.nanos();
        entry.first = entry.first.min(at);
        entry.last = entry.last.max(at);
        if let Some(title) = &event.conversation_title
            && entry.title.is_none_or(|(_, titled_at)| at >= titled_at)
        {
            entry.title = Some((title, at));
        }
    }
    let backend = txn.get_database_backend();
    let rows: Vec<_> = sums.into_iter().collect();
    // The rows exist (created before the calls); this upsert always takes its UPDATE branch.
    let newer_title = "excluded.title_at_micros IS NOT NULL AND (conversations.title_at_micros IS NULL \
                       OR excluded.title_at_micros >= conversations.title_at_micros)";
    for chunk in statement_chunks(&rows) {
        let mut sql = Sql::new(backend);
        sql.push(
            "INSERT INTO conversations (id, user_id, external_id, api_calls, total_tokens, cost_nanos, \
             first_at_micros, last_at_micros, title, title_at_micros) VALUES ",
        );
        for (position, (id, sums)) in chunk.iter().enumerate() {
            sql.push(if position == 0 { "(" } else { ", (" });
            sql.bind(*id)
                .push(", ")
                .bind(sums.user)
                .push(", ")
                .bind(sums.external_id);
            for value in [
                sums.api_calls,
                sums.tokens,
                sums.cost,
                sums.first,
                sums.last,
            ] {
                sql.push(", ").bind(value);
            }
            sql.push(", ").bind(sums.title.map(|(title, _)| title));
            sql.push(", ").bind(sums.title.map(|(_, at)| at)).push(")");
        }
        sql.push(
            " ON CONFLICT (id) DO UPDATE SET api_calls = conversations.api_calls + excluded.api_calls, \
             total_tokens = conversations.total_tokens + excluded.total_tokens, \
             cost_nanos = conversations.cost_nanos + excluded.cost_nanos, first_at_micros = CASE WHEN \
             conversations.first_at_micros IS NULL OR excluded.first_at_micros < conversations.first_at_micros \
             THEN excluded.first_at_micros ELSE conversations.first_at_micros END, last_at_micros = CASE WHEN \
             conversations.last_at_micros IS NULL OR excluded.last_at_micros > conversations.last_at_micros \
             THEN excluded.last_at_micros ELSE conversations.last_at_micros END",
        );
        sql.push(&format!(
            ", title = CASE WHEN {newer_title} THEN excluded.title ELSE conversations.title END, \
             title_at_micros = CASE WHEN {newer_title} THEN excluded.title_at_micros ELSE conversations.title_at_micros END"
        ));
        txn.execute_raw(sql.build()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::statement_chunks;

    #[test]
    fn chunks_cover_every_row_in_fixed_sizes() {
        for len in [0usize, 1, 3, 5, 999, 1_000, 1_001, 2_345, 10_000] {
            let rows: Vec<usize> = (0..len).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&rows).collect();
            assert_eq!(chunks.concat(), rows);
            assert!(
                chunks
                    .iter()
                    .all(|c| [1_000, 256, 64, 16, 4, 1].contains(&c.len()))
            );
        }
        assert_eq!(
            statement_chunks(&[0u8; 2_345])
                .map(<[u8]>::len)
                .collect::<Vec<_>>(),
            [1_000, 1_000, 256, 64, 16, 4, 4, 1]
        );
    }
}

#[derive(Default)]
struct UsageSums {
    api_calls: i64,
    input: i64,
    output: i64,
    cache_creation: i64,
    cache_read: i64,
    cost: i64,
}

impl UsageSums {
    fn add(&mut self, event: &NewEvent) {
        self.api_calls += 1;
        self.input += event.tokens.input;
        self.output += event.tokens.output;
        self.cache_creation += event.tokens.cache_creation;
        self.cache_read += event.tokens.cache_read;
        self.cost += event.cost.nanos();
    }

    fn bind(&self, sql: &mut Sql) {
        for value in [
            self.api_calls,
            self.input,
            self.output,
            self.cache_creation,
            self.cache_read,
            self.cost,
        ] {
            sql.push(", ").bind(value);
        }
    }
}

#[derive(Default)]
struct ToolSums {
    calls: i64,
    timed: i64,
    time_sum: i64,
    successes: i64,
    cost: i64,
}

/// Adds the new calls to every aggregate table. Keys are sorted so that concurrent batches
/// lock rows in the same order (no deadlocks on PostgreSQL).
async fn update_aggregates(
    txn: &DatabaseTransaction,
    events: &[NewEvent],
    inserted: &[InsertedCall],
) -> AppResult<()> {
    let mut hourly: BTreeMap<(i64, i64, &str), UsageSums> = BTreeMap::new();
    let mut user_hourly: BTreeMap<(i64, i64), UsageSums> = BTreeMap::new();
    let mut quarter: BTreeMap<(i64, i64), UsageSums> = BTreeMap::new();
    let mut by_tool: BTreeMap<(i64, i64, &str), ToolSums> = BTreeMap::new();
    for call in inserted {
        let event = &events[call.event];
        let second = event.occurred_at_micros.div_euclid(1_000_000);
        let hour = second - second.rem_euclid(HOUR);
        hourly
            .entry((call.user, hour, event.model.as_str()))
            .or_default()
            .add(event);
        user_hourly.entry((call.user, hour)).or_default().add(event);
        quarter
            .entry((call.user, second - second.rem_euclid(QUARTER_HOUR)))
            .or_default()
            .add(event);
        for (tool, share) in event.tools.iter().zip(event.cost.split(event.tools.len())) {
            let sums = by_tool
                .entry((call.user, hour, tool.name.as_str()))
                .or_default();
            sums.calls += 1;
            sums.successes += i64::from(tool.success);
            sums.cost += share.nanos();
            if let Some(ms) = tool.execution_time_ms {
                sums.timed += 1;
                sums.time_sum += ms;
            }
        }
    }

    let backend = txn.get_database_backend();
    let add_usage = |table: &str| {
        USAGE_COLUMNS
            .iter()
            .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };

    let rows: Vec<_> = hourly.into_iter().collect();
    for chunk in statement_chunks(&rows) {
        let mut sql = Sql::new(backend);
        sql.push("INSERT INTO usage_hourly (user_id, bucket_start, model, ");
        sql.push(&USAGE_COLUMNS.join(", ")).push(") VALUES ");
        for (position, ((user, hour, model), sums)) in chunk.iter().enumerate() {
            sql.push(if position == 0 { "(" } else { ", (" });
            sql.bind(*user)
                .push(", ")
                .bind(*hour)
                .push(", ")
                .bind(*model);
            sums.bind(&mut sql);
            sql.push(")");
        }
        sql.push(" ON CONFLICT (user_id, bucket_start, model) DO UPDATE SET ")
            .push(&add_usage("usage_hourly"));
        txn.execute_raw(sql.build()).await?;
    }

    for (table, buckets) in [
        ("usage_user_hourly", user_hourly),
        ("usage_quarter_hourly", quarter),
    ] {
        let rows: Vec<_> = buckets.into_iter().collect();
        for chunk in statement_chunks(&rows) {
            let mut sql = Sql::new(backend);
            sql.push(&format!("INSERT INTO {table} (user_id, bucket_start, "));
            sql.push(&USAGE_COLUMNS.join(", ")).push(") VALUES ");
            for (position, ((user, bucket), sums)) in chunk.iter().enumerate() {
                sql.push(if position == 0 { "(" } else { ", (" });
                sql.bind(*user).push(", ").bind(*bucket);
                sums.bind(&mut sql);
                sql.push(")");
            }
            sql.push(" ON CONFLICT (user_id, bucket_start) DO UPDATE SET ")
                .push(&add_usage(table));
            txn.execute_raw(sql.build()).await?;
        }
    }

    let rows: Vec<_> = by_tool.into_iter().collect();
    for chunk in statement_chunks(&rows) {
        let mut sql = Sql::new(backend);
        sql.push("INSERT INTO tool_hourly (user_id, bucket_start, name, calls, timed_calls, execution_time_ms_sum, successes, cost_nanos) VALUES ");
        for (position, ((user, hour, name), sums)) in chunk.iter().enumerate() {
            sql.push(if position == 0 { "(" } else { ", (" });
            sql.bind(*user)
                .push(", ")
                .bind(*hour)
                .push(", ")
                .bind(*name);
            for value in [
                sums.calls,
                sums.timed,
                sums.time_sum,
                sums.successes,
                sums.cost,
            ] {
                sql.push(", ").bind(value);
            }
            sql.push(")");
        }
        sql.push(" ON CONFLICT (user_id, bucket_start, name) DO UPDATE SET ");
        sql.push(
            &[
                "calls",
                "timed_calls",
                "execution_time_ms_sum",
                "successes",
                "cost_nanos",
            ]
            .iter()
            .map(|c| format!("{c} = tool_hourly.{c} + excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        );
        txn.execute_raw(sql.build()).await?;
    }
    Ok(())
}
