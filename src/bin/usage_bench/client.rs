//! Requests to the server under test over real HTTP, each timed from the first byte sent to
//! the last byte of the response read.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{Value, json};

/// Every field of `usageSummary`, the daily series included.
pub const SUMMARY_QUERY: &str = "query Summary($range: DateRangeInput) { usageSummary(range: $range) { \
range { start end timeZone } totalCostUsd inputTokens outputTokens cacheCreationInputTokens \
cacheReadInputTokens totalTokens apiCalls conversationCount averageCostPerCallUsd \
daily { date costUsd totalTokens apiCalls } } }";

/// The GraphQL request body of a `usageSummary` over `start..=end` in `zone`.
pub fn summary_body(start: &str, end: &str, zone: &str) -> String {
    json!({
        "query": SUMMARY_QUERY,
        "variables": {"range": {"start": start, "end": end, "timeZone": zone}},
    })
    .to_string()
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct IngestOutcome {
    pub inserted: u64,
    pub duplicates: u64,
}

/// A client of one server, with the credentials of the heavy user and of the collector.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    jwt: String,
    ingest_key: String,
}

/// A response read to the end, with the time it took.
#[derive(Debug)]
pub struct Timed {
    pub elapsed: Duration,
    pub status: reqwest::StatusCode,
    pub content_type: String,
    pub body: bytes::Bytes,
}

impl Timed {
    fn ensure_ok(&self, what: &str) -> anyhow::Result<()> {
        if !self.status.is_success() {
            let text = String::from_utf8_lossy(&self.body);
            bail!(
                "{what}: HTTP {}: {}",
                self.status,
                text.chars().take(600).collect::<String>()
            );
        }
        Ok(())
    }
}

impl Client {
    pub fn new(base: &str, jwt: String, ingest_key: String) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(600))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client {
            http,
            base: base.to_owned(),
            jwt,
            ingest_key,
        })
    }

    async fn timed(&self, request: reqwest::Request) -> anyhow::Result<Timed> {
        let started = Instant::now();
        let response = self.http.execute(request).await.context("request failed")?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.bytes().await.context("cannot read the response")?;
        Ok(Timed {
            elapsed: started.elapsed(),
            status,
            content_type,
            body,
        })
    }

    /// Waits until `/healthz` answers 200.
    pub async fn wait_healthy(&self, deadline: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let request = self.http.get(format!("{}/healthz", self.base)).build()?;
            match self.timed(request).await {
                Ok(timed) if timed.status.is_success() => return Ok(()),
                _ if started.elapsed() > deadline => {
                    bail!("/healthz did not answer 200 within {deadline:?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Posts one NDJSON batch with the ingest key.
    pub async fn ingest(&self, body: String) -> anyhow::Result<(Duration, IngestOutcome)> {
        let request = self
            .http
            .post(format!("{}/api/usage/events", self.base))
            .header(AUTHORIZATION, format!("Bearer {}", self.ingest_key))
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(body)
            .build()?;
        let timed = self.timed(request).await?;
        timed.ensure_ok("ingest")?;
        let outcome: IngestOutcome =
            serde_json::from_slice(&timed.body).context("ingest: unexpected response")?;
        Ok((timed.elapsed, outcome))
    }

    /// Posts a GraphQL request body as the heavy user; refuses any `errors` in the answer.
    pub async fn graphql(&self, body: &bytes::Bytes) -> anyhow::Result<(Duration, Value)> {
        let request = self
            .http
            .post(format!("{}/graphql", self.base))
            .header(AUTHORIZATION, format!("Bearer {}", self.jwt))
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone())
            .build()?;
        let timed = self.timed(request).await?;
        timed.ensure_ok("graphql")?;
        let value: Value =
            serde_json::from_slice(&timed.body).context("graphql: the answer is not JSON")?;
        if let Some(errors) = value.get("errors") {
            bail!("graphql: the answer has errors: {errors}");
        }
        Ok((timed.elapsed, value))
    }

    /// Downloads an export as the heavy user.
    pub async fn export(
        &self,
        query: &[(&str, &str)],
    ) -> anyhow::Result<(Duration, String, String)> {
        let request = self
            .http
            .get(format!("{}/api/usage/export", self.base))
            .header(AUTHORIZATION, format!("Bearer {}", self.jwt))
            .query(query)
            .build()?;
        let timed = self.timed(request).await?;
        timed.ensure_ok("export")?;
        let text =
            String::from_utf8(timed.body.to_vec()).context("export: the file is not UTF-8")?;
        Ok((timed.elapsed, timed.content_type, text))
    }
}
