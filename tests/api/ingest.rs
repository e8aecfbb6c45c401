//! `POST /api/usage/events`: happy paths, idempotency, and every kind of refusal.

use serde_json::{Value, json};

use crate::helpers::{INGEST_KEY, TestApp, event, token, with};

const SUMMARY: &str = "query($r: DateRangeInput) { usageSummary(range: $r) { totalCostUsd apiCalls inputTokens outputTokens cacheCreationInputTokens cacheReadInputTokens totalTokens conversationCount } }";

async fn summary(app: &TestApp, user: &str) -> Value {
    let data = app
        .graphql_data(
            user,
            SUMMARY,
            json!({"r": {"start": "2025-01-01", "end": "2025-01-31"}}),
        )
        .await;
    data["usageSummary"].clone()
}

#[tokio::test]
async fn json_batch_is_stored_and_priced() {
    let app = TestApp::spawn().await;
    let events = vec![
        with(
            event("msg_1", "user_a", "2025-01-15T10:00:00Z"),
            json!({"usage": {"input_tokens": 1200, "output_tokens": 350, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 800},
                   "conversation_id": "conv_1", "conversation_title": "Trip planning",
                   "tools": [{"name": "web_search", "execution_time_ms": 420, "success": true}]}),
        ),
        with(
            event("msg_2", "user_a", "2025-01-16T10:00:00Z"),
            json!({"cost_usd": "0.5", "model": "my-own-model"}),
        ),
    ];
    assert_eq!(app.ingest_ok(&events).await, (2, 0));
    let summary = summary(&app, "user_a").await;
    // 1200×3 + 350×15 + 800×0.3 per million = 0.00909; plus 0.5.
    assert_eq!(summary["totalCostUsd"], "0.50909");
    assert_eq!(summary["apiCalls"], 2);
    assert_eq!(summary["inputTokens"], 2200);
    assert_eq!(summary["cacheReadInputTokens"], 800);
    assert_eq!(summary["conversationCount"], 1);
    assert_eq!(app.count("tool_calls").await, 1);
}

#[tokio::test]
async fn ndjson_batch_is_stored() {
    let app = TestApp::spawn().await;
    let lines: Vec<String> = (0..5)
        .map(|n| event(&format!("msg_{n}"), "user_n", "2025-01-10T08:00:00Z").to_string())
        .collect();
    let response = app.ingest_ndjson(lines.join("\n") + "\n").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"inserted": 5, "duplicates": 0}));
    assert_eq!(summary(&app, "user_n").await["apiCalls"], 5);
}

#[tokio::test]
async fn duplicates_within_and_across_batches_change_nothing() {
    let app = TestApp::spawn().await;
    let first = event("msg_1", "user_d", "2025-01-05T00:00:00Z");
    assert_eq!(app.ingest_ok(&[first.clone(), first.clone()]).await, (1, 1));
    // The same id again, even with other figures, is a duplicate and changes nothing.
    let changed = with(
        first.clone(),
        json!({"cost_usd": "100", "conversation_id": "c", "conversation_title": "New"}),
    );
    assert_eq!(
        app.ingest_ok(&[changed, event("msg_2", "user_d", "2025-01-05T00:00:00Z")])
            .await,
        (1, 1)
    );
    let summary = summary(&app, "user_d").await;
    assert_eq!(summary["apiCalls"], 2);
    assert_eq!(summary["totalCostUsd"], "0.009");
    // The same id for another user is another event.
    assert_eq!(
        app.ingest_ok(&[event("msg_1", "user_e", "2025-01-05T00:00:00Z")])
            .await,
        (1, 0)
    );
    assert_eq!(app.count("api_calls").await, 3);
}

#[tokio::test]
async fn concurrent_resends_store_each_event_once() {
    let app = TestApp::spawn().await;
    let batch: Vec<Value> = (0..200)
        .map(|n| {
            with(
                event(&format!("m{n}"), "user_c", "2025-01-20T12:00:00Z"),
                json!({"tools": [{"name": "t"}]}),
            )
        })
        .collect();
    let (a, b, c) = tokio::join!(app.ingest(&batch), app.ingest(&batch), app.ingest(&batch));
    let mut inserted = 0;
    for response in [a, b, c] {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        inserted += body["inserted"].as_u64().unwrap();
        assert_eq!(
            body["inserted"].as_u64().unwrap() + body["duplicates"].as_u64().unwrap(),
            200
        );
    }
    assert_eq!(inserted, 200);
    assert_eq!(summary(&app, "user_c").await["apiCalls"], 200);
    assert_eq!(app.count("tool_calls").await, 200);
}

#[tokio::test]
async fn latest_titled_event_names_the_conversation() {
    let app = TestApp::spawn().await;
    let titled = |id: &str, at: &str, title: Option<&str>| {
        let mut e = with(event(id, "user_t", at), json!({"conversation_id": "conv"}));
        if let Some(title) = title {
            e = with(e, json!({"conversation_title": title}));
        }
        e
    };
    app.ingest_ok(&[
        titled("a", "2025-01-02T00:00:00Z", Some("Second")),
        titled("b", "2025-01-01T00:00:00Z", Some("First")),
    ])
    .await;
    app.ingest_ok(&[
        titled("c", "2025-01-03T00:00:00Z", None),
        titled("d", "2024-12-31T00:00:00Z", Some("Oldest")),
    ])
    .await;
    let data = app
        .graphql_data("user_t", "{ conversations(range: {start: \"2024-12-01\", end: \"2025-01-31\"}) { edges { node { id title messageCount } } } }", json!({}))
        .await;
    assert_eq!(
        data["conversations"]["edges"][0]["node"],
        json!({"id": "conv", "title": "Second", "messageCount": 4})
    );
}

async fn refused(app: &TestApp, body: Value) -> Value {
    let response = app.ingest(body.as_array().unwrap()).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "INVALID_EVENT", "{body}");
    assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()));
    body
}

#[tokio::test]
async fn every_kind_of_invalid_event_is_refused_with_details_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let good = event("ok", "user_x", "2025-01-01T00:00:00Z");
    let cases: Vec<(Value, &str)> = vec![
        (json!({"id": "x"}), "user_id"),
        (
            with(
                good.clone(),
                json!({"usage": {"input_tokens": -1, "output_tokens": 1}}),
            ),
            "usage.input_tokens",
        ),
        (
            with(
                good.clone(),
                json!({"usage": {"input_tokens": 1, "output_tokens": 2.5}}),
            ),
            "usage.output_tokens",
        ),
        (
            with(good.clone(), json!({"usage": {"input_tokens": 1}})),
            "usage.output_tokens",
        ),
        (
            with(
                good.clone(),
                json!({"usage": {"input_tokens": 1, "output_tokens": "12"}}),
            ),
            "usage.output_tokens",
        ),
        (
            with(good.clone(), json!({"occurred_at": "2025-13-01T00:00:00Z"})),
            "occurred_at",
        ),
        (
            with(good.clone(), json!({"occurred_at": "2025-01-01"})),
            "occurred_at",
        ),
        (with(good.clone(), json!({"id": ""})), "id"),
        (with(good.clone(), json!({"id": "x".repeat(201)})), "id"),
        (with(good.clone(), json!({"model": "gpt-unknown"})), "model"),
        (with(good.clone(), json!({"cost_usd": "-1"})), "cost_usd"),
        (with(good.clone(), json!({"cost_usd": "abc"})), "cost_usd"),
        (
            with(good.clone(), json!({"tools": [{"execution_time_ms": 5}]})),
            "tools.0.name",
        ),
        (
            with(
                good.clone(),
                json!({"conversation_title": "no conversation"}),
            ),
            "conversation_title",
        ),
    ];
    for (bad, field) in cases {
        let body = refused(&app, json!([good.clone(), bad.clone()])).await;
        let detail = &body["details"][0];
        assert_eq!(detail["index"], 1, "{body}");
        assert_eq!(detail["field"], field, "{bad} → {body}");
        assert!(detail["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(app.count("api_calls").await, 0);
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn malformed_bodies_are_refused() {
    let app = TestApp::spawn().await;
    let post = |body: String, content_type: &'static str| {
        app.client
            .post(app.url("/api/usage/events"))
            .bearer_auth(INGEST_KEY)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases = [
        ("{\"events\": []}".to_owned(), "application/json", "events"),
        ("{\"events\": [".to_owned(), "application/json", ""),
        ("not json".to_owned(), "application/json", ""),
        ("{}".to_owned(), "application/json", "events"),
        ("{\"events\": []}".to_owned(), "text/plain", "Content-Type"),
        (String::new(), "application/x-ndjson", "events"),
    ];
    for (body, content_type, field) in cases {
        let response = post(body.clone(), content_type).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "INVALID_EVENT");
        assert_eq!(body["details"][0]["field"], field, "{body}");
        assert!(body["details"][0]["index"].is_null());
    }
    let too_many: Vec<String> = (0..10_001)
        .map(|n| event(&format!("m{n}"), "u", "2025-01-01T00:00:00Z").to_string())
        .collect();
    let response = app.ingest_ndjson(too_many.join("\n")).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("10000"), "{body}");
    assert_eq!(app.count("api_calls").await, 0);
}

#[tokio::test]
async fn the_largest_batch_is_accepted() {
    let app = TestApp::spawn().await;
    let lines: Vec<String> = (0..10_000)
        .map(|n| {
            let mut e = event(&format!("m{n}"), &format!("user_{}", n % 7), "2025-01-01T00:00:00Z");
            if n % 3 == 0 {
                e = with(e, json!({"tools": [{"name": "web_search", "execution_time_ms": 10}], "conversation_id": format!("c{}", n % 50)}));
            }
            e.to_string()
        })
        .collect();
    let response = app.ingest_ndjson(lines.join("\n")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"inserted": 10_000, "duplicates": 0})
    );
    assert_eq!(app.count("tool_calls").await, 3_334);
}

#[tokio::test]
async fn ingest_needs_an_ingest_key() {
    let app = TestApp::spawn().await;
    let body = json!({"events": [event("m", "u", "2025-01-01T00:00:00Z")]});
    let post = |auth: Option<String>| {
        let mut request = app.client.post(app.url("/api/usage/events")).json(&body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for auth in [
        None,
        Some("Bearer wrong-key".to_owned()),
        Some(format!("Bearer {INGEST_KEY}x")),
        Some(format!("Basic {INGEST_KEY}")),
        Some(format!("Bearer {}", token("u"))),
    ] {
        let response = post(auth.clone()).await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": "Unauthorized", "code": "UNAUTHENTICATED"})
        );
    }
    let response = post(Some("Bearer second-key".to_owned())).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.count("api_calls").await, 1);
}

#[tokio::test]
async fn an_ingest_key_cannot_read() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&[event("m", "u", "2025-01-01T00:00:00Z")])
        .await;
    let body: Value = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(INGEST_KEY)
        .json(&json!({"query": "{ viewer { id } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}
