//! Health, readiness and unknown routes.

use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let missing = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["code"], "NOT_FOUND");
}

#[tokio::test]
async fn a_lost_database_gives_503_quickly() {
    let app = TestApp::spawn().await;
    app.db.clone().close().await.unwrap();
    let started = std::time::Instant::now();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = app
        .client
        .post(app.url("/api/usage/events"))
        .bearer_auth(crate::helpers::INGEST_KEY)
        .json(&serde_json::json!({"events": [crate::helpers::event("m", "u", "2025-01-01T00:00:00Z")]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["code"], "UNAVAILABLE", "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
