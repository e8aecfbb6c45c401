//! The binary: configuration errors are one line and a non-zero exit; `token`, `schema`,
//! `migrate`, `seed-demo`; `serve --demo` end to end with a graceful stop.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::fixture;

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_usage-api"));
    for var in [
        "DATABASE_URL",
        "USAGE_API_JWT_PUBLIC_KEY",
        "USAGE_API_JWKS_URL",
        "USAGE_API_DEV_SECRET",
        "USAGE_API_INGEST_KEYS",
        "USAGE_API_PRICING_FILE",
        "USAGE_API_LISTEN",
    ] {
        command.env_remove(var);
    }
    command.env("RUST_LOG", "warn");
    command
}

/// Runs the binary and returns (success, stdout, stderr).
fn run(command: &mut Command) -> (bool, String, String) {
    let output = command.output().expect("run usage-api");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display())
}

/// The last line of stderr: the one-line error.
fn error_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_owned();
    assert!(line.starts_with("error: "), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    line
}

#[test]
fn configuration_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(binary().args(["serve", "--database-url", &sqlite_url(&dir)]));
    assert!(!ok);
    let line = error_line(&stderr);
    assert!(
        line.contains("USAGE_API_JWT_PUBLIC_KEY")
            && line.contains("USAGE_API_JWKS_URL")
            && line.contains("USAGE_API_DEV_SECRET"),
        "{line}"
    );

    let (ok, _, stderr) = run(binary()
        .args(["serve"])
        .env("USAGE_API_DEV_SECRET", "s")
        .env("DATABASE_URL", "mysql://nowhere/db"));
    assert!(!ok);
    assert!(error_line(&stderr).contains("DATABASE_URL"));

    let (ok, _, stderr) = run(binary()
        .args(["serve"])
        .env("USAGE_API_JWT_PUBLIC_KEY", "/no/such/key.pem"));
    assert!(!ok);
    assert!(error_line(&stderr).contains("/no/such/key.pem"));

    let prices = dir.path().join("prices.json");
    std::fs::write(&prices, "{broken").unwrap();
    let (ok, _, stderr) = run(binary()
        .args(["serve", "--database-url", &sqlite_url(&dir)])
        .env("USAGE_API_DEV_SECRET", "s")
        .env("USAGE_API_PRICING_FILE", &prices));
    assert!(!ok);
    assert!(error_line(&stderr).contains("prices.json"));
}

#[test]
fn an_unreachable_database_fails_start_up_within_30_seconds() {
    let started = Instant::now();
    let (ok, _, stderr) = run(binary().args([
        "migrate",
        "--database-url",
        "postgres://usage:pw@127.0.0.1:9/usage",
    ]));
    assert!(!ok);
    assert!(error_line(&stderr).contains("database"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn token_needs_the_dev_secret_and_verifies() {
    let (ok, _, stderr) = run(binary().args(["token", "--sub", "user_1"]));
    assert!(!ok);
    assert!(error_line(&stderr).contains("USAGE_API_DEV_SECRET"));

    let (ok, stdout, _) = run(binary()
        .args(["token", "--sub", "user_1", "--ttl", "2h"])
        .env("USAGE_API_DEV_SECRET", "dev-secret"));
    assert!(ok);
    let token = stdout.trim();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(b"dev-secret").unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], "user_1");
    let lifetime = claims["exp"].as_i64().unwrap() - chrono::Utc::now().timestamp();
    assert!((7000..=7200).contains(&lifetime), "{lifetime}");
}

#[test]
fn schema_command_prints_the_served_sdl() {
    let (ok, stdout, _) = run(binary().arg("schema"));
    assert!(ok);
    assert_eq!(stdout, usage_api::graphql::sdl());
}

#[test]
fn migrate_and_seed_demo() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let (ok, stdout, stderr) = run(binary().args(["migrate", "--database-url", &url]));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("migrations applied"));
    let seed = |dir: &tempfile::TempDir| {
        run(binary().args([
            "seed-demo",
            "--database-url",
            &sqlite_url(dir),
            "--users",
            "2",
            "--days",
            "5",
            "--calls-per-day",
            "10",
            "--seed",
            "9",
        ]))
    };
    let (ok, first, stderr) = seed(&dir);
    assert!(ok, "{stderr}");
    assert!(first.contains("events inserted"), "{first}");
    // Seeding again with the same seed writes the same events: all duplicates.
    let (ok, second, _) = seed(&dir);
    assert!(ok);
    assert!(second.contains(" 0 events inserted"), "{second}");
}

#[test]
fn serve_demo_end_to_end_with_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = binary()
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &sqlite_url(&dir),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut token, mut graphiql) = (String::new(), String::new());
    for line in stdout.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("GraphiQL:") {
            graphiql = rest.split_whitespace().next().unwrap().to_owned();
        }
        if let Some(rest) = line.trim().strip_prefix("Dev token:") {
            token = rest.trim().to_owned();
        }
        if line.contains("curl") {
            assert!(line.contains("/api/usage/export"));
            break;
        }
    }
    assert!(!token.is_empty() && graphiql.ends_with("/graphiql"));
    // Keep reading what the server prints, as a terminal would.
    let drain = std::thread::spawn(move || stdout.for_each(drop));
    let base = graphiql.trim_end_matches("/graphiql").to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let page = client
            .get(&graphiql)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(&token),
            "the playground carries the dev token"
        );
        let run = |operation: &'static str| {
            client
                .post(format!("{base}/graphql"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"query": usage_api::graphql::EXAMPLE_QUERY, "operationName": operation}))
                .send()
        };
        let body: serde_json::Value = run("Dashboard").await.unwrap().json().await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        assert!(body["data"]["usageSummary"]["apiCalls"].as_i64().unwrap() > 100);
        let export: serde_json::Value = run("Export").await.unwrap().json().await.unwrap();
        let link = export["data"]["exportUsage"]["downloadUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let csv = client.get(format!("{base}{link}")).send().await.unwrap();
        assert_eq!(csv.status(), 200);
        assert!(csv.text().await.unwrap().starts_with("=== SUMMARY ===\r\n"));
    });
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drain.join().unwrap();
    let _ = fixture("keys");
}
