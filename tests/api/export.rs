//! Exports: the REST download and the `exportUsage` mutation share one renderer.

use serde_json::{Value, json};
use usage_api::export::{ExportFormat, ExportRequest, SectionSet, query_string};
use usage_api::usage::DateRange;
use usage_api::usage::range::parse_date;

use crate::helpers::{TestApp, event, token, with};

const JANUARY: [(&str, &str); 2] = [("start_date", "2025-01-01"), ("end_date", "2025-01-31")];

fn events() -> Vec<Value> {
    let mut events: Vec<Value> = (0..12)
        .map(|n| {
            with(
                event(&format!("m{n}"), "ann", &format!("2025-01-{:02}T10:00:00Z", 1 + n * 2)),
                json!({"conversation_id": format!("c{}", n % 4), "conversation_title": if n % 4 == 1 { "=HYPERLINK(\"x\")" } else { "Plans, \"quoted\"" },
                       "tools": [{"name": if n % 2 == 0 { "@search" } else { "calc" }, "execution_time_ms": 100, "success": true}]}),
            )
        })
        .collect();
    events.push(with(
        event("z", "zed", "2025-01-05T00:00:00Z"),
        json!({"conversation_id": "zed_private", "conversation_title": "Zed only"}),
    ));
    events
}

async fn mutation(app: &TestApp, sub: &str, args: &str) -> Value {
    let query = format!(
        "mutation {{ exportUsage({args}) {{ filename contentType byteSize content downloadUrl }} }}"
    );
    app.graphql(Some(sub), &query, json!({})).await
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn rest_download_has_the_contract_headers_and_the_mutation_bytes() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&events()).await;
    let response = app.export(Some("ann"), &JANUARY).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition
            .starts_with("attachment; filename=\"usage-export-2025-01-01-to-2025-01-31.csv\""),
        "{disposition}"
    );
    assert!(disposition.contains("filename*=UTF-8''usage-export-2025-01-01-to-2025-01-31.csv"));
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let body = response.bytes().await.unwrap();
    assert_eq!(
        headers["content-length"].to_str().unwrap(),
        body.len().to_string()
    );
    assert!(!body.starts_with(b"\xEF\xBB\xBF"));
    assert!(body.starts_with(b"=== SUMMARY ===\r\n"));
    assert!(
        !String::from_utf8_lossy(&body)
            .replace("\r\n", "")
            .contains('\n')
    );

    let exported = mutation(
        &app,
        "ann",
        "format: CSV, include: [ALL], range: {start: \"2025-01-01\", end: \"2025-01-31\"}",
    )
    .await;
    let exported = &exported["data"]["exportUsage"];
    assert_eq!(exported["content"].as_str().unwrap().as_bytes(), &body[..]);
    assert_eq!(exported["byteSize"], body.len());
    assert_eq!(
        exported["filename"],
        "usage-export-2025-01-01-to-2025-01-31.csv"
    );
    assert_eq!(exported["contentType"], "text/csv; charset=utf-8");

    let rows = csv_rows(&String::from_utf8_lossy(&body));
    let titles: Vec<&str> = rows
        .iter()
        .filter(|r| r.len() == 1 && r[0].starts_with("==="))
        .map(|r| r[0].as_str())
        .collect();
    assert_eq!(
        titles,
        [
            "=== SUMMARY ===",
            "=== DAILY BREAKDOWN ===",
            "=== CONVERSATIONS ===",
            "=== TOOLS ===",
            "=== MODELS ==="
        ]
    );
    assert!(
        rows.iter()
            .any(|r| r == &vec!["API Calls".to_owned(), "12".to_owned()]),
        "{rows:?}"
    );
    // Formula injection is neutralised; quoting survives a real reader.
    assert!(
        rows.iter()
            .any(|r| r.len() == 7 && r[1] == "'=HYPERLINK(\"x\")")
    );
    assert!(
        rows.iter()
            .any(|r| r.len() == 7 && r[1] == "Plans, \"quoted\"")
    );
    assert!(rows.iter().any(|r| r.len() == 5 && r[0] == "'@search"));
    assert!(!String::from_utf8_lossy(&body).contains("Zed only"));
}

#[tokio::test]
async fn json_download_equals_the_mutation_apart_from_generated_at() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&events()).await;
    let params = [
        JANUARY[0],
        JANUARY[1],
        ("format", "json"),
        ("time_zone", "Europe/Paris"),
    ];
    let response = app.export(Some("ann"), &params).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let mut rest: Value = response.json().await.unwrap();
    let exported = mutation(&app, "ann", "format: JSON, range: {start: \"2025-01-01\", end: \"2025-01-31\", timeZone: \"Europe/Paris\"}").await;
    let mut from_mutation: Value =
        serde_json::from_str(exported["data"]["exportUsage"]["content"].as_str().unwrap()).unwrap();
    for document in [&mut rest, &mut from_mutation] {
        document["export_info"]["generated_at"] = Value::Null;
    }
    assert_eq!(rest, from_mutation);
    assert_eq!(
        rest["export_info"]["date_range"],
        json!({"start_date": "2025-01-01", "end_date": "2025-01-31", "time_zone": "Europe/Paris"})
    );
    assert_eq!(rest["summary"]["api_calls"], 12);
    assert_eq!(rest["conversations"]["total_count"], 4);
    assert!(rest["summary"]["total_cost_usd"].is_number());
    assert_eq!(rest["daily_breakdown"].as_array().unwrap().len(), 31);
}

#[tokio::test]
async fn sections_alone_and_combined() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&events()).await;
    let all = [
        "export_info",
        "summary",
        "daily_breakdown",
        "conversations",
        "tools",
        "models",
    ];
    let cases: [(&str, &[&str]); 6] = [
        ("summary", &["export_info", "summary", "daily_breakdown"]),
        ("conversations", &["export_info", "conversations"]),
        ("tools", &["export_info", "tools"]),
        ("models", &["export_info", "models"]),
        ("tools,models", &["export_info", "tools", "models"]),
        ("all", &all),
    ];
    for (include, keys) in cases {
        let params = [
            JANUARY[0],
            JANUARY[1],
            ("format", "json"),
            ("include", include),
        ];
        let body: Value = app.export(Some("ann"), &params).await.json().await.unwrap();
        let mut found: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        found.sort_unstable();
        let mut expected = keys.to_vec();
        expected.sort_unstable();
        assert_eq!(found, expected, "{include}");
        let csv = app
            .export(Some("ann"), &[JANUARY[0], JANUARY[1], ("include", include)])
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(
            csv.contains("=== TOOLS ==="),
            keys.contains(&"tools"),
            "{include}"
        );
        assert_eq!(
            csv.contains("=== SUMMARY ==="),
            keys.contains(&"summary"),
            "{include}"
        );
    }
    let graphql = mutation(
        &app,
        "ann",
        "include: [TOOLS, MODELS], range: {start: \"2025-01-01\", end: \"2025-01-31\"}",
    )
    .await;
    let content = graphql["data"]["exportUsage"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("=== TOOLS ===")
            && content.contains("=== MODELS ===")
            && !content.contains("SUMMARY")
    );
    let empty = mutation(&app, "ann", "include: []").await;
    assert_eq!(empty["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn the_size_limit_serves_exactly_the_limit_and_refuses_one_byte_more() {
    let probe = TestApp::spawn().await;
    probe.ingest_ok(&events()).await;
    let size = probe
        .export(Some("ann"), &JANUARY)
        .await
        .bytes()
        .await
        .unwrap()
        .len() as u64;

    let at_limit = TestApp::spawn_with(|s| s.export_max_bytes = size).await;
    at_limit.ingest_ok(&events()).await;
    assert_eq!(at_limit.export(Some("ann"), &JANUARY).await.status(), 200);

    let below = TestApp::spawn_with(|s| s.export_max_bytes = size - 1).await;
    below.ingest_ok(&events()).await;
    let response = below.export(Some("ann"), &JANUARY).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "EXPORT_TOO_LARGE");
    assert_eq!(body["size_bytes"], size);
    assert_eq!(body["limit_bytes"], size - 1);
    assert!(
        body["suggestions"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
    let graphql = mutation(
        &below,
        "ann",
        "range: {start: \"2025-01-01\", end: \"2025-01-31\"}",
    )
    .await;
    let error = &graphql["errors"][0]["extensions"];
    assert_eq!(error["code"], "EXPORT_TOO_LARGE");
    assert_eq!(error["sizeBytes"], size);
    assert_eq!(error["limitBytes"], size - 1);
    assert!(graphql["data"].is_null());
}

#[tokio::test]
async fn every_bad_parameter_is_invalid_parameter() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&events()).await;
    let cases: [(&[(&str, &str)], &str); 11] = [
        (&[("start_date", "2023-02-29")], "start_date"),
        (&[("start_date", "2024-2-9")], "start_date"),
        (&[("end_date", "2024-02-09 ")], "end_date"),
        (&[("end_date", "02/09/2024")], "end_date"),
        (
            &[("start_date", "2025-02-01"), ("end_date", "2025-01-01")],
            "start_date",
        ),
        (
            &[("start_date", "2024-01-01"), ("end_date", "2025-01-01")],
            "end_date",
        ),
        (&[("format", "xml")], "format"),
        (&[("format", "CSV")], "format"),
        (&[("include", "everything")], "include"),
        (&[("include", "")], "include"),
        (&[("time_zone", "Nowhere/Land")], "time_zone"),
    ];
    for (params, name) in cases {
        let response = app.export(Some("ann"), params).await;
        assert_eq!(response.status(), 400, "{params:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "INVALID_PARAMETER", "{params:?}");
        assert_eq!(body["parameter"], name, "{params:?}");
        assert!(body["error"].as_str().unwrap().contains(name), "{body}");
    }
    let twice = app
        .export(Some("ann"), &[("format", "csv"), ("format", "json")])
        .await;
    assert_eq!(twice.status(), 400);
}

#[tokio::test]
async fn authentication_and_users() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&events()).await;
    let none = app.export(None, &JANUARY).await;
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.json::<Value>().await.unwrap(),
        json!({"error": "Unauthorized", "code": "UNAUTHENTICATED"})
    );
    let bad = app
        .client
        .get(app.url("/api/usage/export"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let unknown = app.export(Some("nobody"), &JANUARY).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<Value>().await.unwrap(),
        json!({"error": "User not found", "code": "USER_NOT_FOUND"})
    );
    let cookie = app
        .client
        .get(app.url("/api/usage/export"))
        .query(&JANUARY)
        .header("cookie", format!("__session={}", token("zed")))
        .send()
        .await
        .unwrap();
    assert_eq!(cookie.status(), 200);
    let zed = cookie.text().await.unwrap();
    assert!(zed.contains("Zed only") && !zed.contains("Plans") && !zed.contains("calc"));
}

#[tokio::test]
async fn signed_links_are_bound_to_user_parameters_and_time() {
    let app = TestApp::spawn().await;
    app.ingest_ok(&events()).await;
    let exported = mutation(&app, "ann", "format: JSON, include: [TOOLS], range: {start: \"2025-01-01\", end: \"2025-01-31\", timeZone: \"Asia/Kolkata\"}").await;
    let link = exported["data"]["exportUsage"]["downloadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(link.starts_with("/api/usage/export?"), "{link}");
    let ok = app.client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert!(body.get("tools").is_some() && body.get("summary").is_none());

    let token_value = link.split("token=").nth(1).unwrap().to_owned();
    let mut tampered = token_value.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        app.client
            .get(app.url(&link.replace(&token_value, &tampered)))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    for (from, to) in [
        ("start_date=2025-01-01", "start_date=2025-01-02"),
        ("end_date=2025-01-31", "end_date=2025-01-30"),
        ("format=json", "format=csv"),
        ("include=tools", "include=all"),
        ("time_zone=Asia%2FKolkata", "time_zone=UTC"),
    ] {
        assert!(link.contains(from), "{link} lacks {from}");
        let other = app
            .client
            .get(app.url(&link.replace(from, to)))
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 401, "{to}");
    }
    // A link signed for another user gives that user's data only; an expired one nothing.
    let range = DateRange::resolve(
        parse_date("2025-01-01").ok(),
        parse_date("2025-01-31").ok(),
        chrono_tz::UTC,
        366,
        chrono::Utc::now(),
    )
    .unwrap();
    let request = ExportRequest {
        format: ExportFormat::Csv,
        sections: SectionSet::all(),
        range,
    };
    let expired = app.services.links.sign(
        "ann",
        &request,
        chrono::Utc::now() - chrono::Duration::seconds(1),
    );
    let path = format!(
        "/api/usage/export?{}",
        query_string(&request, Some(&expired))
    );
    assert_eq!(
        app.client
            .get(app.url(&path))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let zeds = app.services.links.sign(
        "zed",
        &request,
        chrono::Utc::now() + chrono::Duration::seconds(60),
    );
    let path = format!("/api/usage/export?{}", query_string(&request, Some(&zeds)));
    let text = app
        .client
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("Zed only") && !text.contains("Plans"));
}

#[tokio::test]
async fn default_range_is_the_last_30_days_ending_today() {
    let app = TestApp::spawn().await;
    let today = chrono::Utc::now().date_naive();
    app.ingest_ok(&[event("t", "ann", &format!("{today}T00:00:00Z"))])
        .await;
    let response = app.export(Some("ann"), &[]).await;
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    let start = today - chrono::Duration::days(30);
    assert!(
        disposition.contains(&format!("usage-export-{start}-to-{today}.csv")),
        "{disposition}"
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(&format!("Date Range,{start} to {today}")),
        "{text}"
    );
}

#[tokio::test]
async fn absolute_links_with_a_public_url() {
    let app =
        TestApp::spawn_with(|s| s.public_url = Some("https://usage.example.com".to_owned())).await;
    app.ingest_ok(&events()).await;
    let exported = mutation(&app, "ann", "format: CSV").await;
    let link = exported["data"]["exportUsage"]["downloadUrl"]
        .as_str()
        .unwrap();
    assert!(
        link.starts_with("https://usage.example.com/api/usage/export?"),
        "{link}"
    );
}
