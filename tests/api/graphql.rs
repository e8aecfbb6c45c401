//! The GraphQL API: authentication, figures checked against an independent computation,
//! pagination, time zones, bad input, limits, and the schema file.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::helpers::{ISSUER, TestApp, event, token, token_with, with};

/// A fixed data set: two users, three conversations, two models, tools.
fn fixture_events() -> Vec<Value> {
    let mut events = Vec::new();
    for n in 0..30 {
        let day = 1 + n % 10;
        let model = if n % 3 == 0 {
            "claude-opus-4-5"
        } else {
            "claude-haiku-4-5"
        };
        let mut e = with(
            event(
                &format!("a{n}"),
                "alice",
                &format!("2025-03-{day:02}T{:02}:15:00Z", n % 24),
            ),
            json!({"model": model,
                   "usage": {"input_tokens": 1000 + n, "output_tokens": 200 + n, "cache_creation_input_tokens": n * 10, "cache_read_input_tokens": n * 100},
                   "conversation_id": format!("conv_{}", n % 3), "conversation_title": format!("Chat {}", n % 3)}),
        );
        if n % 2 == 0 {
            e = with(
                e,
                json!({"tools": [{"name": "web_search", "execution_time_ms": 100 + n, "success": n % 4 == 0},
                                          {"name": "code_execution", "execution_time_ms": 1000, "success": true}]}),
            );
        }
        if n == 7 {
            e = with(e, json!({"cost_usd": "0.123456789"}));
        }
        events.push(e);
    }
    for n in 0..5 {
        events.push(with(
            event(&format!("b{n}"), "bob", "2025-03-05T10:00:00Z"),
            json!({"conversation_id": "bob_secret", "conversation_title": "Bob's secret", "tools": [{"name": "bob_tool"}], "model": "claude-sonnet-4-5"}),
        ));
    }
    events
}

const FULL_QUERY: &str = r#"query($r: DateRangeInput) {
  viewer { id }
  usageSummary(range: $r) {
    range { start end timeZone }
    totalCostUsd inputTokens outputTokens cacheCreationInputTokens cacheReadInputTokens totalTokens
    apiCalls conversationCount averageCostPerCallUsd
    daily { date costUsd totalTokens apiCalls }
  }
  conversations(range: $r, first: 10) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id title costUsd totalTokens messageCount firstMessageAt lastMessageAt } }
  }
  toolUsage(range: $r) { name calls averageExecutionTimeMs successRate estimatedCostUsd }
  modelUsage(range: $r) { model apiCalls inputTokens outputTokens cacheCreationInputTokens cacheReadInputTokens costUsd shareOfCost }
}"#;

fn march() -> Value {
    json!({"r": {"start": "2025-03-01", "end": "2025-03-31"}})
}

/// Nano-dollars of a call priced by the built-in table (sonnet/haiku/opus only).
fn price_nanos(model: &str, usage: &Value) -> i64 {
    let (input, output, write, read) = match model {
        "claude-opus-4-5" => (5_000, 25_000, 6_250, 500),
        "claude-haiku-4-5" => (1_000, 5_000, 1_250, 100),
        "claude-sonnet-4-5" => (3_000, 15_000, 3_750, 300),
        other => panic!("{other}"),
    };
    let get = |k: &str| usage[k].as_i64().unwrap_or(0);
    get("input_tokens") * input
        + get("output_tokens") * output
        + get("cache_creation_input_tokens") * write
        + get("cache_read_input_tokens") * read
}

fn nanos_of(event: &Value) -> i64 {
    match event["cost_usd"].as_str() {
        Some(text) => {
            let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
            whole.parse::<i64>().unwrap() * 1_000_000_000
                + format!("{fraction:0<9}").parse::<i64>().unwrap()
        }
        None => price_nanos(event["model"].as_str().unwrap(), &event["usage"]),
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

#[tokio::test]
async fn figures_equal_an_independent_computation() {
    let app = TestApp::spawn().await;
    let events = fixture_events();
    app.ingest_ok(&events).await;
    let data = app.graphql_data("alice", FULL_QUERY, march()).await;
    let alice: Vec<&Value> = events.iter().filter(|e| e["user_id"] == "alice").collect();

    let total: i64 = alice.iter().map(|e| nanos_of(e)).sum();
    let tokens = |kind: &str| {
        alice
            .iter()
            .map(|e| e["usage"][kind].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    let summary = &data["usageSummary"];
    assert_eq!(summary["totalCostUsd"], dollars(total));
    assert_eq!(summary["inputTokens"], tokens("input_tokens"));
    assert_eq!(summary["outputTokens"], tokens("output_tokens"));
    assert_eq!(
        summary["cacheCreationInputTokens"],
        tokens("cache_creation_input_tokens")
    );
    assert_eq!(
        summary["cacheReadInputTokens"],
        tokens("cache_read_input_tokens")
    );
    let all_tokens = tokens("input_tokens")
        + tokens("output_tokens")
        + tokens("cache_creation_input_tokens")
        + tokens("cache_read_input_tokens");
    assert_eq!(summary["totalTokens"], all_tokens);
    assert_eq!(summary["apiCalls"], 30);
    assert_eq!(summary["conversationCount"], 3);
    assert_eq!(summary["averageCostPerCallUsd"], dollars((total + 15) / 30));
    assert_eq!(
        summary["range"],
        json!({"start": "2025-03-01", "end": "2025-03-31", "timeZone": "UTC"})
    );

    // Daily: 31 entries in order, zeros included, each equal to the day's events.
    let daily = summary["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 31);
    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for e in &alice {
        let entry = expected
            .entry(e["occurred_at"].as_str().unwrap()[..10].to_owned())
            .or_default();
        entry.0 += nanos_of(e);
        entry.1 += 1;
    }
    for (n, day) in daily.iter().enumerate() {
        let date = format!("2025-03-{:02}", n + 1);
        assert_eq!(day["date"], date);
        let (cost, calls) = expected.get(&date).copied().unwrap_or_default();
        assert_eq!(day["costUsd"], dollars(cost), "{date}");
        assert_eq!(day["apiCalls"], calls, "{date}");
    }

    // Conversations: ordered by cost descending, then id.
    let mut by_conversation: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for e in &alice {
        let entry = by_conversation
            .entry(e["conversation_id"].as_str().unwrap().to_owned())
            .or_default();
        entry.0 += nanos_of(e);
        entry.1 += 1;
    }
    let mut order: Vec<(&String, &(i64, i64))> = by_conversation.iter().collect();
    order.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    let edges = data["conversations"]["edges"].as_array().unwrap();
    assert_eq!(data["conversations"]["totalCount"], 3);
    assert_eq!(data["conversations"]["pageInfo"]["hasNextPage"], false);
    for (edge, (id, (cost, calls))) in edges.iter().zip(&order) {
        assert_eq!(edge["node"]["id"], **id);
        assert_eq!(edge["node"]["costUsd"], dollars(*cost));
        assert_eq!(edge["node"]["messageCount"], *calls);
    }
    let conv_0 = edges.iter().find(|e| e["node"]["id"] == "conv_0").unwrap();
    assert_eq!(conv_0["node"]["title"], "Chat 0");
    assert_eq!(conv_0["node"]["firstMessageAt"], "2025-03-01T00:15:00Z");

    // Tools: cost share is the call's cost split between its tool calls.
    let tools = data["toolUsage"].as_array().unwrap();
    assert_eq!(tools.len(), 2);
    let web = tools.iter().find(|t| t["name"] == "web_search").unwrap();
    assert_eq!(web["calls"], 15);
    let with_tools: Vec<&&Value> = alice.iter().filter(|e| e.get("tools").is_some()).collect();
    let web_time: i64 = with_tools
        .iter()
        .map(|e| e["tools"][0]["execution_time_ms"].as_i64().unwrap())
        .sum();
    assert!(
        (web["averageExecutionTimeMs"].as_f64().unwrap() - web_time as f64 / 15.0).abs() < 1e-9
    );
    let successes = with_tools
        .iter()
        .filter(|e| e["tools"][0]["success"] == true)
        .count();
    assert!((web["successRate"].as_f64().unwrap() - successes as f64 / 15.0).abs() < 1e-9);
    let shares: i64 = with_tools
        .iter()
        .map(|e| {
            let c = nanos_of(e);
            c / 2 + c % 2
        })
        .sum();
    assert_eq!(web["estimatedCostUsd"], dollars(shares));
    let tool_total: i64 = with_tools.iter().map(|e| nanos_of(e)).sum();
    let code = tools
        .iter()
        .find(|t| t["name"] == "code_execution")
        .unwrap();
    assert_eq!(code["estimatedCostUsd"], dollars(tool_total - shares));

    // Models: by cost descending, shares add up to 1.
    let models = data["modelUsage"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    let opus: i64 = alice
        .iter()
        .filter(|e| e["model"] == "claude-opus-4-5")
        .map(|e| nanos_of(e))
        .sum();
    let opus_row = models
        .iter()
        .find(|m| m["model"] == "claude-opus-4-5")
        .unwrap();
    assert_eq!(opus_row["costUsd"], dollars(opus));
    assert_eq!(opus_row["apiCalls"], 10);
    assert!((opus_row["shareOfCost"].as_f64().unwrap() - opus as f64 / total as f64).abs() < 1e-9);
    let share_sum: f64 = models
        .iter()
        .map(|m| m["shareOfCost"].as_f64().unwrap())
        .sum();
    assert!((share_sum - 1.0).abs() < 1e-9);
    let costs: Vec<i64> = models
        .iter()
        .map(|m| nanos_of(&json!({"cost_usd": m["costUsd"]})))
        .collect();
    assert!(costs.windows(2).all(|w| w[0] >= w[1]));
}

#[tokio::test]
async fn users_never_see_each_other() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&fixture_events()).await;
    let bob = app.graphql_data("bob", FULL_QUERY, march()).await;
    let text = bob.to_string();
    assert!(
        !text.contains("conv_0")
            && !text.contains("Chat")
            && !text.contains("web_search")
            && !text.contains("opus"),
        "{text}"
    );
    assert_eq!(bob["usageSummary"]["apiCalls"], 5);
    assert_eq!(bob["viewer"]["id"], "bob");
    let alice = app
        .graphql_data("alice", FULL_QUERY, march())
        .await
        .to_string();
    assert!(
        !alice.contains("bob_secret")
            && !alice.contains("Bob's secret")
            && !alice.contains("bob_tool")
            && !alice.contains("sonnet")
    );
}

#[tokio::test]
async fn a_full_response_matches_its_snapshot() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&fixture_events()).await;
    let data = app
        .graphql_data(
            "alice",
            FULL_QUERY,
            json!({"r": {"start": "2025-03-01", "end": "2025-03-05"}}),
        )
        .await;
    insta::assert_json_snapshot!("full_query_alice", data);
}

#[tokio::test]
async fn pagination_walks_every_conversation_once() {
    let app = TestApp::spawn().await;
    // 23 conversations; several share a cost so the id breaks ties.
    let events: Vec<Value> = (0..23)
        .map(|n| with(event(&format!("m{n}"), "pager", "2025-02-10T10:00:00Z"), json!({"conversation_id": format!("c{n:02}"), "cost_usd": format!("0.{}", n % 4 + 1)})))
        .collect();
    app.ingest_ok(&events).await;
    let query = "query($after: String) { conversations(range: {start: \"2025-02-01\", end: \"2025-02-28\"}, first: 5, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id costUsd } } } }";
    let mut after = Value::Null;
    let mut seen = Vec::new();
    loop {
        let data = app
            .graphql_data("pager", query, json!({"after": after}))
            .await;
        let connection = &data["conversations"];
        assert_eq!(connection["totalCount"], 23);
        for edge in connection["edges"].as_array().unwrap() {
            seen.push((
                edge["node"]["costUsd"].as_str().unwrap().to_owned(),
                edge["node"]["id"].as_str().unwrap().to_owned(),
            ));
        }
        if connection["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len(), 23);
    let mut expected = seen.clone();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(seen, expected);
    let unique: std::collections::HashSet<&String> = seen.iter().map(|(_, id)| id).collect();
    assert_eq!(unique.len(), 23);
}

#[tokio::test]
async fn counts_beyond_32_bits() {
    let app = TestApp::spawn().await;
    let events: Vec<Value> = (0..3)
        .map(|n| {
            with(
                event(&format!("big{n}"), "heavy", "2025-01-10T00:00:00Z"),
                json!({"usage": {"input_tokens": 900_000_000_000u64, "output_tokens": 1}}),
            )
        })
        .collect();
    app.ingest_ok(&events).await;
    let data = app
        .graphql_data("heavy", "{ usageSummary(range: {start: \"2025-01-10\", end: \"2025-01-10\"}) { inputTokens totalTokens totalCostUsd } }", json!({}))
        .await;
    assert_eq!(data["usageSummary"]["inputTokens"], 2_700_000_000_000i64);
    assert_eq!(data["usageSummary"]["totalTokens"], 2_700_000_000_003i64);
    assert_eq!(data["usageSummary"]["totalCostUsd"], "8100000.000045");
}

#[tokio::test]
async fn days_follow_the_time_zone_across_dst_and_half_hours() {
    let app = TestApp::spawn().await;
    let at = |id: &str, instant: &str| event(id, "tz", instant);
    app.ingest_ok(&[
        // Los Angeles, 2025-03-09 is 23 hours long: 08:00Z to 07:00Z next day.
        at("la_before", "2025-03-09T07:59:59Z"),
        at("la_first", "2025-03-09T08:00:00Z"),
        at("la_last", "2025-03-10T06:59:59Z"),
        at("la_after", "2025-03-10T07:00:00Z"),
        // Kolkata (+05:30): 2025-01-15 runs from 2025-01-14T18:30Z to 2025-01-15T18:30Z.
        at("in_before", "2025-01-14T18:29:59Z"),
        at("in_first", "2025-01-14T18:30:00Z"),
        at("in_mid", "2025-01-15T12:00:00Z"),
        at("in_last", "2025-01-15T18:29:59Z"),
        at("in_after", "2025-01-15T18:30:00Z"),
    ])
    .await;
    let query = "query($r: DateRangeInput) { usageSummary(range: $r) { apiCalls daily { date apiCalls } } modelUsage(range: $r) { apiCalls } conversations(range: $r) { totalCount } }";
    let la = app.graphql_data("tz", query, json!({"r": {"start": "2025-03-09", "end": "2025-03-09", "timeZone": "America/Los_Angeles"}})).await;
    assert_eq!(la["usageSummary"]["apiCalls"], 2);
    assert_eq!(la["modelUsage"][0]["apiCalls"], 2);
    let la_week = app.graphql_data("tz", query, json!({"r": {"start": "2025-03-08", "end": "2025-03-10", "timeZone": "America/Los_Angeles"}})).await;
    let days: Vec<i64> = daily_calls(&la_week);
    assert_eq!(days, vec![1, 2, 1]);

    let kolkata = app
        .graphql_data(
            "tz",
            query,
            json!({"r": {"start": "2025-01-15", "end": "2025-01-15", "timeZone": "Asia/Kolkata"}}),
        )
        .await;
    assert_eq!(kolkata["usageSummary"]["apiCalls"], 3);
    assert_eq!(kolkata["modelUsage"][0]["apiCalls"], 3);
    let around = app
        .graphql_data(
            "tz",
            query,
            json!({"r": {"start": "2025-01-14", "end": "2025-01-16", "timeZone": "Asia/Kolkata"}}),
        )
        .await;
    let days: Vec<i64> = daily_calls(&around);
    assert_eq!(days, vec![1, 3, 1]);
    let utc = app
        .graphql_data(
            "tz",
            query,
            json!({"r": {"start": "2025-01-15", "end": "2025-01-15"}}),
        )
        .await;
    assert_eq!(utc["usageSummary"]["apiCalls"], 3);
}

/// The `apiCalls` of each day of a `usageSummary` response, in order.
fn daily_calls(data: &Value) -> Vec<i64> {
    data["usageSummary"]["daily"]
        .as_array()
        .map(|days| days.iter().filter_map(|d| d["apiCalls"].as_i64()).collect())
        .unwrap_or_default()
}

fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("none")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn token_failures_are_unauthenticated() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&[event("m", "someone", "2025-01-01T00:00:00Z")])
        .await;
    let now = chrono::Utc::now().timestamp();
    let bad_tokens = [
        "not-a-jwt".to_owned(),
        token_with(json!({"sub": "someone", "iss": ISSUER, "exp": now - 30})),
        token_with(json!({"sub": "someone", "iss": ISSUER, "exp": now + 600, "nbf": now + 60})),
        token_with(json!({"sub": "someone", "iss": "https://other.issuer", "exp": now + 600})),
        token_with(json!({"sub": "someone", "iss": ISSUER})),
        format!("{}x", token("someone")),
    ];
    for bad in bad_tokens {
        let body: Value = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&bad)
            .json(&json!({"query": "{ viewer { id } }"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(codes(&body), vec!["UNAUTHENTICATED"], "{bad}: {body}");
        assert_eq!(body["errors"][0]["message"], "Unauthorized");
    }
    let none = app
        .graphql(None, "{ usageSummary { apiCalls } }", json!({}))
        .await;
    assert_eq!(codes(&none), vec!["UNAUTHENTICATED"]);
}

#[tokio::test]
async fn header_and_session_cookie_both_work() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&[event("m", "cookie_user", "2025-01-01T00:00:00Z")])
        .await;
    let via_cookie: Value = app
        .client
        .post(app.url("/graphql"))
        .header(
            "cookie",
            format!("theme=dark; __session={}; other=1", token("cookie_user")),
        )
        .json(&json!({"query": "{ viewer { id } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(via_cookie["data"]["viewer"]["id"], "cookie_user");
    let via_header = app
        .graphql_data("cookie_user", "{ viewer { id } }", json!({}))
        .await;
    assert_eq!(via_header["viewer"]["id"], "cookie_user");
}

#[tokio::test]
async fn unknown_user_is_user_not_found() {
    let app = TestApp::spawn().await;
    for query in [
        "{ viewer { id } }",
        "{ usageSummary { apiCalls } }",
        "{ toolUsage { name } }",
        "{ modelUsage { model } }",
        "{ conversations { totalCount } }",
    ] {
        let body = app.graphql(Some("nobody"), query, json!({})).await;
        assert_eq!(codes(&body), vec!["USER_NOT_FOUND"], "{query}");
        assert_eq!(body["errors"][0]["message"], "User not found");
    }
}

#[tokio::test]
async fn bad_input_is_bad_user_input_naming_the_field() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&[event("m", "u", "2025-01-01T00:00:00Z")])
        .await;
    let cases = [
        (
            json!({"start": "2025-05-31", "end": "2025-05-01"}),
            "range.start",
        ),
        (
            json!({"start": "2024-01-01", "end": "2025-01-01"}),
            "range.end",
        ),
        (json!({"timeZone": "Mars/Olympus"}), "range.timeZone"),
        (json!({"start": "2024-2-9"}), "range.start"),
        (json!({"start": "2023-02-29"}), "range.start"),
        (json!({"end": "2024-02-30 "}), "range.end"),
    ];
    for (range, field) in cases {
        let body = app
            .graphql(
                Some("u"),
                "query($r: DateRangeInput) { usageSummary(range: $r) { apiCalls } }",
                json!({"r": range}),
            )
            .await;
        assert_eq!(codes(&body), vec!["BAD_USER_INPUT"], "{range}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        // Range checks name the field; a malformed Date is refused while parsing the variable,
        // and that message names the value and its type.
        let bad_value = range
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .as_str()
            .unwrap();
        let named =
            message.contains(field) || (message.contains(bad_value) && message.contains("Date"));
        assert!(named, "{range}: {message}");
    }
    let literal = app
        .graphql(
            Some("u"),
            "{ usageSummary(range: {start: \"2025-13-01\"}) { apiCalls } }",
            json!({}),
        )
        .await;
    assert_eq!(codes(&literal), vec!["BAD_USER_INPUT"], "{literal}");
    for first in [0, 101, -1] {
        let body = app
            .graphql(
                Some("u"),
                &format!("{{ conversations(first: {first}) {{ totalCount }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(codes(&body), vec!["BAD_USER_INPUT"], "{body}");
    }
    let cursor = app
        .graphql(
            Some("u"),
            "{ conversations(after: \"garbage\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(codes(&cursor), vec!["BAD_USER_INPUT"]);
}

#[tokio::test]
async fn default_range_is_the_last_30_days() {
    let app = TestApp::spawn().await;
    let today = chrono::Utc::now().date_naive();
    let recent = format!("{}T00:00:00Z", today - chrono::Duration::days(30));
    let old = format!("{}T23:59:59Z", today - chrono::Duration::days(31));
    app.ingest_ok(&[event("recent", "u", &recent), event("old", "u", &old)])
        .await;
    let data = app
        .graphql_data(
            "u",
            "{ usageSummary { apiCalls range { start end timeZone } daily { date } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["usageSummary"]["apiCalls"], 1);
    assert_eq!(data["usageSummary"]["range"]["end"], today.to_string());
    assert_eq!(
        data["usageSummary"]["range"]["start"],
        (today - chrono::Duration::days(30)).to_string()
    );
    assert_eq!(data["usageSummary"]["daily"].as_array().unwrap().len(), 31);
}

#[tokio::test]
async fn limits_refuse_expensive_and_batched_requests() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&[event("m", "u", "2025-01-01T00:00:00Z")])
        .await;
    let aliases: String = (0..300)
        .map(|n| format!("a{n}: conversations(first: 100) {{ edges {{ node {{ id }} }} }} "))
        .collect();
    let body = app
        .graphql(Some("u"), &format!("{{ {aliases} }}"), json!({}))
        .await;
    assert!(body["data"].is_null(), "{}", &body.to_string()[..200]);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("complex"),
        "{body}"
    );

    let batch = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token("u"))
        .json(&json!([{"query": "{ viewer { id } }"}, {"query": "{ viewer { id } }"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 400);

    let get_mutation = app
        .client
        .get(app.url("/graphql"))
        .bearer_auth(token("u"))
        .query(&[("query", "mutation { exportUsage { filename } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(get_mutation.status(), 405);
    let get_query: Value = app
        .client
        .get(app.url("/graphql"))
        .bearer_auth(token("u"))
        .query(&[("query", "{ viewer { id } }")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get_query["data"]["viewer"]["id"], "u");

    let huge = "x".repeat(300 * 1024);
    let too_big = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token("u"))
        .json(&json!({"query": format!("{{ viewer {{ id }} }} # {huge}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
}

#[tokio::test]
async fn the_graphiql_introspection_query_passes() {
    let app = TestApp::spawn().await;
    let query = include_str!("introspection.graphql");
    let body = app.graphql(None, query, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    let page = app.client.get(app.url("/graphiql")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("usageSummary"));
}

#[test]
fn schema_file_is_the_served_sdl() {
    let served = usage_api::graphql::sdl();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        served == on_disk,
        "schema.graphql differs from the served schema; regenerate it with `cargo run -- schema > schema.graphql`"
    );
    for name in [
        "scalar Date",
        "scalar DateTime",
        "scalar Decimal",
        "scalar Long",
        "exportUsage",
        "conversations(",
        "first: Int = 50",
    ] {
        assert!(served.contains(name), "{name} missing from the schema");
    }
}

#[tokio::test]
async fn figures_follow_every_ingest_at_once() {
    let app = TestApp::spawn().await;
    let query = "{ usageSummary(range: {start: \"2025-04-01\", end: \"2025-04-30\"}) { apiCalls totalCostUsd } \
                 conversations(range: {start: \"2025-04-01\", end: \"2025-04-30\"}) { totalCount } \
                 toolUsage(range: {start: \"2025-04-01\", end: \"2025-04-30\"}) { calls } \
                 modelUsage(range: {start: \"2025-04-01\", end: \"2025-04-30\"}) { apiCalls } }";
    let mut expected_calls = 0;
    for n in 0..3 {
        let event = with(
            event(&format!("r{n}"), "reader", "2025-04-10T10:00:00Z"),
            json!({"conversation_id": format!("c{n}"), "tools": [{"name": "t"}]}),
        );
        app.ingest_ok(&[event]).await;
        expected_calls += 1;
        // Twice: the second answer may come from the cache, and must be the same.
        for _ in 0..2 {
            let data = app.graphql_data("reader", query, json!({})).await;
            assert_eq!(data["usageSummary"]["apiCalls"], expected_calls);
            assert_eq!(data["conversations"]["totalCount"], expected_calls);
            assert_eq!(data["toolUsage"][0]["calls"], expected_calls);
            assert_eq!(data["modelUsage"][0]["apiCalls"], expected_calls);
        }
        let csv = app
            .export(
                Some("reader"),
                &[("start_date", "2025-04-01"), ("end_date", "2025-04-30")],
            )
            .await
            .text()
            .await
            .unwrap();
        assert!(
            csv.contains(&format!("API Calls,{expected_calls}\r\n")),
            "{csv}"
        );
    }
    // A batch of duplicates changes nothing, cached or not.
    app.ingest_ok(&[event("r0", "reader", "2025-04-10T10:00:00Z")])
        .await;
    let data = app.graphql_data("reader", query, json!({})).await;
    assert_eq!(data["usageSummary"]["apiCalls"], 3);
}
