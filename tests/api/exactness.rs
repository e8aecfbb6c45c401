//! Every figure the API serves from its aggregate tables equals the same figure computed here
//! from the raw events, for random data with duplicates and re-sent batches, in random ranges
//! and time zones (whole-hour, half-hour and quarter-hour offsets, and a DST change).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::helpers::TestApp;

const MODELS: [(&str, [i64; 4]); 3] = [
    ("claude-sonnet-4-5", [3_000, 15_000, 3_750, 300]),
    ("claude-haiku-4-5", [1_000, 5_000, 1_250, 100]),
    ("claude-3-haiku", [250, 1_250, 300, 30]),
];
const TOOLS: [&str; 3] = ["web_search", "=calc", "fetch"];
const ZONES: [Tz; 5] = [
    chrono_tz::UTC,
    chrono_tz::America::Los_Angeles,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Asia::Kathmandu,
    chrono_tz::Australia::Lord_Howe,
];

#[derive(Debug, Clone)]
struct Tool {
    name: usize,
    time: Option<i64>,
    success: bool,
}

#[derive(Debug, Clone)]
struct Event {
    user: usize,
    at: DateTime<Utc>,
    model: usize,
    tokens: [i64; 4],
    conversation: Option<usize>,
    cost: Option<i64>,
    tools: Vec<Tool>,
}

impl Event {
    fn cost_nanos(&self) -> i64 {
        self.cost.unwrap_or_else(|| {
            self.tokens
                .iter()
                .zip(MODELS[self.model].1)
                .map(|(t, p)| t * p)
                .sum()
        })
    }

    fn json(&self, id: usize) -> Value {
        let mut value = json!({
            "id": format!("e{id}"),
            "user_id": format!("user{}", self.user),
            "occurred_at": self.at.to_rfc3339(),
            "model": MODELS[self.model].0,
            "usage": {"input_tokens": self.tokens[0], "output_tokens": self.tokens[1],
                      "cache_creation_input_tokens": self.tokens[2], "cache_read_input_tokens": self.tokens[3]},
            "tools": self.tools.iter().map(|t| {
                let mut tool = json!({"name": TOOLS[t.name], "success": t.success});
                if let Some(ms) = t.time { tool["execution_time_ms"] = json!(ms); }
                tool
            }).collect::<Vec<_>>(),
        });
        if let Some(conversation) = self.conversation {
            value["conversation_id"] = json!(format!("c{conversation}"));
        }
        if let Some(cost) = self.cost {
            value["cost_usd"] = json!(dollars(cost));
        }
        value
    }
}

fn dollars(nanos: i64) -> String {
    let text = format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 7, 0, 0, 0).single().unwrap()
}

fn event_strategy() -> impl Strategy<Value = Event> {
    (
        0usize..2,
        0i64..(5 * 24 * 3600),
        0usize..3,
        [0i64..5_000, 0i64..2_000, 0i64..1_000, 0i64..3_000],
        proptest::option::of(0usize..5),
        proptest::option::weighted(0.2, 0i64..50_000_000),
        proptest::collection::vec(
            (0usize..3, proptest::option::of(0i64..5_000), any::<bool>()),
            0..3,
        ),
    )
        .prop_map(
            |(user, seconds, model, tokens, conversation, cost, tools)| Event {
                user,
                at: base() + Duration::seconds(seconds),
                model,
                tokens,
                conversation,
                cost,
                tools: tools
                    .into_iter()
                    .map(|(name, time, success)| Tool {
                        name,
                        time,
                        success,
                    })
                    .collect(),
            },
        )
}

/// Cost, tokens, calls, first and last call of a conversation.
type ConversationFigures = (i64, i64, i64, DateTime<Utc>, DateTime<Utc>);
/// Calls, timed calls, time sum, successes and cost share of a tool.
type ToolFigures = (i64, i64, i64, i64, i64);
/// Calls, the four token kinds and cost of a model.
type ModelFigures = (i64, [i64; 4], i64);

/// What the API should answer for `user` over `[start, end]` in `zone`, from raw events.
fn expected(events: &[Event], user: usize, zone: Tz, start: NaiveDate, end: NaiveDate) -> Value {
    let inside: Vec<&Event> = events
        .iter()
        .filter(|e| e.user == user)
        .filter(|e| {
            let day = e.at.with_timezone(&zone).date_naive();
            start <= day && day <= end
        })
        .collect();
    let total_cost: i64 = inside.iter().map(|e| e.cost_nanos()).sum();
    let token = |k: usize| inside.iter().map(|e| e.tokens[k]).sum::<i64>();
    let conversations: BTreeSet<usize> = inside.iter().filter_map(|e| e.conversation).collect();
    let mut daily = Vec::new();
    for day in start.iter_days().take_while(|d| *d <= end) {
        let of_day: Vec<&&Event> = inside
            .iter()
            .filter(|e| e.at.with_timezone(&zone).date_naive() == day)
            .collect();
        daily.push(json!({
            "date": day.to_string(),
            "costUsd": dollars(of_day.iter().map(|e| e.cost_nanos()).sum()),
            "totalTokens": of_day.iter().map(|e| e.tokens.iter().sum::<i64>()).sum::<i64>(),
            "apiCalls": of_day.len(),
        }));
    }
    let calls = inside.len() as i64;
    let average = if calls == 0 {
        0
    } else {
        (total_cost + calls / 2) / calls
    };
    let summary = json!({
        "totalCostUsd": dollars(total_cost), "apiCalls": calls,
        "inputTokens": token(0), "outputTokens": token(1), "cacheCreationInputTokens": token(2), "cacheReadInputTokens": token(3),
        "totalTokens": token(0) + token(1) + token(2) + token(3),
        "conversationCount": conversations.len(), "averageCostPerCallUsd": dollars(average),
        "daily": daily,
    });

    let mut per_conversation: BTreeMap<String, ConversationFigures> = BTreeMap::new();
    for e in &inside {
        if let Some(c) = e.conversation {
            let entry = per_conversation
                .entry(format!("c{c}"))
                .or_insert((0, 0, 0, e.at, e.at));
            entry.0 += e.cost_nanos();
            entry.1 += e.tokens.iter().sum::<i64>();
            entry.2 += 1;
            entry.3 = entry.3.min(e.at);
            entry.4 = entry.4.max(e.at);
        }
    }
    let mut conversation_rows: Vec<(String, ConversationFigures)> =
        per_conversation.into_iter().collect();
    conversation_rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
    let conversation_json: Vec<Value> = conversation_rows
        .iter()
        .map(|(id, (cost, tokens, count, first, last))| {
            json!({"id": id, "costUsd": dollars(*cost), "totalTokens": tokens, "messageCount": count,
                   "firstMessageAt": first.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                   "lastMessageAt": last.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)})
        })
        .collect();

    // Tools: (calls, timed calls, time sum, successes, cost share).
    let mut per_tool: BTreeMap<&str, ToolFigures> = BTreeMap::new();
    for e in &inside {
        let count = e.tools.len() as i64;
        for (position, tool) in e.tools.iter().enumerate() {
            let cost = e.cost_nanos();
            let share = cost / count + i64::from((position as i64) < cost % count);
            let entry = per_tool.entry(TOOLS[tool.name]).or_default();
            entry.0 += 1;
            entry.1 += i64::from(tool.time.is_some());
            entry.2 += tool.time.unwrap_or(0);
            entry.3 += i64::from(tool.success);
            entry.4 += share;
        }
    }
    let mut tool_rows: Vec<(&str, ToolFigures)> = per_tool.into_iter().collect();
    tool_rows.sort_by(|a, b| b.1.4.cmp(&a.1.4).then(a.0.cmp(b.0)));
    let tools: Vec<Value> = tool_rows
        .iter()
        .map(|(name, (calls, timed, time, successes, cost))| {
            json!({"name": name, "calls": calls, "estimatedCostUsd": dollars(*cost),
                   "averageExecutionTimeMs": if *timed == 0 { 0.0 } else { *time as f64 / *timed as f64 },
                   "successRate": *successes as f64 / *calls as f64})
        })
        .collect();

    let mut per_model: BTreeMap<&str, ModelFigures> = BTreeMap::new();
    for e in &inside {
        let entry = per_model.entry(MODELS[e.model].0).or_default();
        entry.0 += 1;
        for k in 0..4 {
            entry.1[k] += e.tokens[k];
        }
        entry.2 += e.cost_nanos();
    }
    let mut model_rows: Vec<(&str, ModelFigures)> = per_model.into_iter().collect();
    model_rows.sort_by(|a, b| b.1.2.cmp(&a.1.2).then(a.0.cmp(b.0)));
    let models: Vec<Value> = model_rows
        .iter()
        .map(|(model, (calls, tokens, cost))| {
            json!({"model": model, "apiCalls": calls, "inputTokens": tokens[0], "outputTokens": tokens[1],
                   "cacheCreationInputTokens": tokens[2], "cacheReadInputTokens": tokens[3], "costUsd": dollars(*cost),
                   "shareOfCost": if total_cost == 0 { 0.0 } else { *cost as f64 / total_cost as f64 }})
        })
        .collect();
    json!({"usageSummary": summary, "conversations": {"totalCount": conversation_json.len(), "nodes": conversation_json},
           "toolUsage": tools, "modelUsage": models})
}

const QUERY: &str = r#"query($r: DateRangeInput) {
  usageSummary(range: $r) { totalCostUsd apiCalls inputTokens outputTokens cacheCreationInputTokens cacheReadInputTokens
                            totalTokens conversationCount averageCostPerCallUsd daily { date costUsd totalTokens apiCalls } }
  conversations(range: $r, first: 100) { totalCount edges { node { id costUsd totalTokens messageCount firstMessageAt lastMessageAt } } }
  toolUsage(range: $r) { name calls averageExecutionTimeMs successRate estimatedCostUsd }
  modelUsage(range: $r) { model apiCalls inputTokens outputTokens cacheCreationInputTokens cacheReadInputTokens costUsd shareOfCost }
}"#;

/// Compares JSON, numbers within 1e-9 (floats are ratios; every exact figure is a string or an integer).
fn assert_same(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            assert!((a - b).abs() < 1e-9, "{path}: {a} != {b}");
        }
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in b {
                assert_same(
                    a.get(key).unwrap_or(&Value::Null),
                    value,
                    &format!("{path}.{key}"),
                );
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: lengths differ");
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same(x, y, &format!("{path}[{index}]"));
            }
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, max_shrink_iters: 20, ..ProptestConfig::default() })]

    #[test]
    fn aggregates_equal_the_raw_rows(
        events in proptest::collection::vec(event_strategy(), 1..120),
        batch_size in 1usize..50,
        resend in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
        ranges in proptest::collection::vec((0usize..5, 0i64..4, 0i64..4), 1..4),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let app = TestApp::spawn().await;
            let documents: Vec<Value> = events.iter().enumerate().map(|(id, e)| e.json(id)).collect();
            let mut sent = HashSet::new();
            for chunk in documents.chunks(batch_size) {
                // Each batch also re-sends some events, already stored or not yet.
                let mut batch = chunk.to_vec();
                batch.extend(resend.iter().map(|index| index.get(&documents).clone()));
                let (inserted, duplicates) = app.ingest_ok(&batch).await;
                let new: HashSet<String> = batch.iter().map(|d| d["id"].to_string()).filter(|id| !sent.contains(id)).collect();
                assert_eq!(inserted as usize, new.len());
                assert_eq!((inserted + duplicates) as usize, batch.len());
                sent.extend(new);
            }
            for (zone, start_offset, length) in &ranges {
                let zone = ZONES[*zone];
                let start = NaiveDate::from_ymd_opt(2025, 3, 6).unwrap() + Duration::days(*start_offset);
                let end = start + Duration::days(*length);
                for user in 0..2 {
                    if !events.iter().any(|e| e.user == user) {
                        let body = app.graphql(Some(&format!("user{user}")), QUERY, json!({})).await;
                        assert_eq!(body["errors"][0]["extensions"]["code"], "USER_NOT_FOUND");
                        continue;
                    }
                    let variables = json!({"r": {"start": start.to_string(), "end": end.to_string(), "timeZone": zone.name()}});
                    let mut actual = app.graphql_data(&format!("user{user}"), QUERY, variables).await;
                    let nodes: Vec<Value> = actual["conversations"]["edges"].as_array().cloned().unwrap_or_default()
                        .into_iter().map(|edge| edge["node"].clone()).collect();
                    actual["conversations"]["nodes"] = Value::Array(nodes);
                    let expected = expected(&events, user, zone, start, end);
                    assert_same(&actual, &expected, &format!("user{user} {} {start}..{end}", zone.name()));
                }
            }
        });
    }
}
