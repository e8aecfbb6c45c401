//! The test harness: a real server on loopback over a fresh, migrated database (SQLite, or
//! PostgreSQL when `TEST_DATABASE_URL` names a server), real RS256 tokens, typed helpers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use usage_api::app::{AppState, Services, Settings, router};
use usage_api::auth::{AuthConfig, Verifier};
use usage_api::export::link::LinkSigner;
use usage_api::ingest::PriceTable;

pub const ISSUER: &str = "https://issuer.test";
pub const INGEST_KEY: &str = "test-ingest-key";

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn private_key() -> EncodingKey {
    let pem = std::fs::read(fixture("keys/rsa-private.pem")).expect("test key");
    EncodingKey::from_rsa_pem(&pem).expect("RSA key")
}

/// A session token for `sub`, valid for 10 minutes, signed with the test key.
pub fn token(sub: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    token_with(json!({"sub": sub, "iss": ISSUER, "iat": now, "exp": now + 600}))
}

/// A token with exactly these claims, signed with the test key (RS256).
pub fn token_with(claims: Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &private_key()).expect("sign")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh database: a SQLite file in a temporary folder, or a new PostgreSQL database.
pub async fn fresh_database() -> (DatabaseConnection, Option<tempfile::TempDir>) {
    match std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
    {
        Some(admin_url) => {
            let admin = usage_api::db::connect(&admin_url)
                .await
                .expect("PostgreSQL for tests");
            let name = format!(
                "usage_test_{}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst),
                rand_suffix()
            );
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            let base = admin_url
                .rsplit_once('/')
                .map(|(base, _)| base)
                .unwrap_or(&admin_url);
            let db = usage_api::db::connect(&format!("{base}/{name}"))
                .await
                .expect("connect");
            usage_api::db::migrate(&db).await.expect("migrate");
            (db, None)
        }
        None => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("usage.db").display()
            );
            let db = usage_api::db::connect(&url).await.expect("connect");
            usage_api::db::migrate(&db).await.expect("migrate");
            (db, Some(dir))
        }
    }
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    (RandomState::new().hash_one(std::time::SystemTime::now()) % 1_000_000) as u32
}

/// A running server.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub services: Services,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// Spawns with settings changed by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let (db, dir) = fresh_database().await;
        let mut settings = Settings {
            ingest_keys: vec![INGEST_KEY.to_owned(), "second-key".to_owned()],
            ..Settings::default()
        };
        adjust(&mut settings);
        let verifier = Verifier::from_config(&AuthConfig {
            public_key_pem: Some(fixture("keys/rsa-public.pem")),
            jwks_url: None,
            issuer: Some(ISSUER.to_owned()),
            audience: None,
            authorized_parties: Vec::new(),
            dev_secret: None,
        })
        .expect("verifier");
        let services = Services::new(
            db.clone(),
            settings,
            verifier,
            PriceTable::built_in(),
            LinkSigner::new(b"test link secret"),
        );
        let app = router(AppState::new(services.clone(), None));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        TestApp {
            address,
            client: reqwest::Client::new(),
            db,
            services,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Posts `{"events": events}` with the ingest key.
    pub async fn ingest(&self, events: &[Value]) -> reqwest::Response {
        self.client
            .post(self.url("/api/usage/events"))
            .bearer_auth(INGEST_KEY)
            .json(&json!({ "events": events }))
            .send()
            .await
            .expect("ingest request")
    }

    /// Ingests and asserts success; returns `(inserted, duplicates)`.
    pub async fn ingest_ok(&self, events: &[Value]) -> (u64, u64) {
        let response = self.ingest(events).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "{body}");
        (
            body["inserted"].as_u64().expect("inserted"),
            body["duplicates"].as_u64().expect("duplicates"),
        )
    }

    /// Posts NDJSON with the ingest key.
    pub async fn ingest_ndjson(&self, body: String) -> reqwest::Response {
        self.client
            .post(self.url("/api/usage/events"))
            .bearer_auth(INGEST_KEY)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .expect("ingest request")
    }

    /// Runs a GraphQL request as `sub` (no token when `None`); returns the whole response body.
    pub async fn graphql(&self, sub: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(sub) = sub {
            request = request.bearer_auth(token(sub));
        }
        request
            .send()
            .await
            .expect("graphql request")
            .json()
            .await
            .expect("graphql json")
    }

    /// `data` of a GraphQL request that must succeed.
    pub async fn graphql_data(&self, sub: &str, query: &str, variables: Value) -> Value {
        let body = self.graphql(Some(sub), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// `GET /api/usage/export` with these query parameters, as `sub` (bearer token) if given.
    pub async fn export(&self, sub: Option<&str>, params: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(self.url("/api/usage/export")).query(params);
        if let Some(sub) = sub {
            request = request.bearer_auth(token(sub));
        }
        request.send().await.expect("export request")
    }

    /// Counts rows of a table (checks that nothing was stored).
    pub async fn count(&self, table: &str) -> i64 {
        use sea_orm::{FromQueryResult, Statement};
        #[derive(FromQueryResult)]
        struct Count {
            n: i64,
        }
        let statement = Statement::from_string(
            self.db.get_database_backend(),
            format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table}"),
        );
        Count::find_by_statement(statement)
            .one(&self.db)
            .await
            .expect("count")
            .map(|c| c.n)
            .unwrap_or(0)
    }
}

/// An event with the required fields; adjust with `with`.
pub fn event(id: &str, user: &str, at: &str) -> Value {
    json!({
        "id": id,
        "user_id": user,
        "occurred_at": at,
        "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": 1000, "output_tokens": 100},
    })
}

/// Merges `fields` into a JSON object.
pub fn with(mut base: Value, fields: Value) -> Value {
    if let (Some(target), Some(source)) = (base.as_object_mut(), fields.as_object()) {
        for (key, value) in source {
            target.insert(key.clone(), value.clone());
        }
    }
    base
}
