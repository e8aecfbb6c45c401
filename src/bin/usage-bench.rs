//! `usage-bench`: the end-to-end benchmark of `usage-api`.
//!
//! Starts the release `usage-api serve` on a fresh database, ingests a year of a heavy user
//! (and a crowd of light users) over HTTP, times the summary and export queries against the
//! same figures computed from raw rows, loads the server with `wrk`, reads its peak memory, and
//! prints a markdown table of every figure with its target. It exits non-zero only when
//! something fails (an error, a wrong figure), never for a missed target.
//!
//! ```text
//! cargo build --release --bin usage-bench --bin usage-api
//! target/release/usage-bench                                  # SQLite, full scale
//! target/release/usage-bench --scale small                    # CI
//! target/release/usage-bench --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```

mod usage_bench {
    pub mod checks;
    pub mod client;
    pub mod cpu;
    pub mod data;
    pub mod load;
    pub mod raw;
    pub mod report;
    pub mod server;
}

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{Days, NaiveDate, Utc};
use clap::{Parser, ValueEnum};
use sea_orm::{ConnectionTrait as _, DatabaseConnection};
use usage_api::usage::DateRange;

use usage_bench::checks;
use usage_bench::client::{self, Client};
use usage_bench::cpu::{Mark, Usage};
use usage_bench::data::{self, Dataset, HEAVY_USER};
use usage_bench::load::{self, LoadResult, Shape, Target};
use usage_bench::raw::{self, Scope};
use usage_bench::report::{Report, Row, Samples, Verdict, ms, thousands};
use usage_bench::server::Server;

/// Events per ingest request (the route's maximum).
const BATCH_EVENTS: usize = 10_000;
const KIB_PER_MIB: u64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scale {
    /// 1,000,000 calls, 10,000 conversations, 100 light users, wrk for 30 s.
    Full,
    /// 20,000 calls, 200 conversations, 10 light users, wrk for 3 s (for CI).
    Small,
}

/// End-to-end benchmark of usage-api: ingestion, summary and export latency against a raw
/// scan, load with wrk, peak memory.
#[derive(Debug, Parser)]
#[command(name = "usage-bench", version)]
struct Args {
    /// Database to benchmark. SQLite: `sqlite://PATH?mode=rwc`, a file that must not hold
    /// events yet (default: a new file in a temporary folder, removed at the end).
    /// PostgreSQL: `postgres://USER@HOST:PORT/DB`, a role allowed to create databases; a fresh
    /// database `usage_bench_<pid>` is created on that server and dropped at the end.
    #[arg(long, env = "USAGE_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Preset sizes; the flags below override them.
    #[arg(long, value_enum, default_value = "full")]
    scale: Scale,
    /// API calls of the heavy user.
    #[arg(long)]
    calls: Option<u64>,
    /// Conversations of the heavy user.
    #[arg(long)]
    conversations: Option<u32>,
    /// Light users (100 to 500 calls each).
    #[arg(long)]
    light_users: Option<u32>,
    /// Duration of each wrk run, in seconds.
    #[arg(long)]
    wrk_seconds: Option<u32>,
    /// Ingest batches in flight at once (1: one after the other, each timed on its own).
    #[arg(long, default_value_t = 1)]
    ingest_concurrency: usize,
    /// Timed runs of each query (the median is reported).
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Untimed runs before them (at least one is made: its answer is the one checked).
    #[arg(long, default_value_t = 2)]
    warmups: usize,
    /// Timed runs of each raw-row baseline (after one untimed run).
    #[arg(long, default_value_t = 5)]
    raw_runs: usize,
    #[arg(long, default_value_t = 64)]
    wrk_connections: u32,
    #[arg(long, default_value_t = 2)]
    wrk_threads: u32,
    /// The wrk executable.
    #[arg(long, default_value = "wrk")]
    wrk: PathBuf,
    /// Skip the wrk runs.
    #[arg(long)]
    no_load: bool,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 20_251_203)]
    seed: u64,
    /// The usage-api binary (default: next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Keep the database (and the work folder with the server log) at the end.
    #[arg(long)]
    keep_database: bool,
    /// Also write the report to this file.
    #[arg(long)]
    report: Option<PathBuf>,
}

/// Sizes after the preset and the overrides.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    calls: u64,
    conversations: u32,
    light_users: u32,
    wrk_seconds: u32,
}

impl Args {
    fn sizes(&self) -> Sizes {
        let preset = match self.scale {
            Scale::Full => Sizes {
                calls: 1_000_000,
                conversations: 10_000,
                light_users: 100,
                wrk_seconds: 30,
            },
            Scale::Small => Sizes {
                calls: 20_000,
                conversations: 200,
                light_users: 10,
                wrk_seconds: 3,
            },
        };
        Sizes {
            calls: self.calls.unwrap_or(preset.calls),
            conversations: self.conversations.unwrap_or(preset.conversations),
            light_users: self.light_users.unwrap_or(preset.light_users),
            wrk_seconds: self.wrk_seconds.unwrap_or(preset.wrk_seconds),
        }
    }
}

fn progress(message: &str) {
    eprintln!("[usage-bench] {message}");
}

/// Where the data lives, and how to clean it up.
#[derive(Debug)]
enum Database {
    /// A SQLite file the benchmark created (removed with the work folder).
    SqliteTemp { url: String },
    /// A SQLite URL given by the caller (left in place).
    SqliteGiven { url: String },
    /// A database created on a PostgreSQL server through `admin_url`.
    Postgres {
        url: String,
        admin_url: String,
        name: String,
    },
}

impl Database {
    fn url(&self) -> &str {
        match self {
            Database::SqliteTemp { url }
            | Database::SqliteGiven { url }
            | Database::Postgres { url, .. } => url,
        }
    }

    fn engine(&self) -> &'static str {
        match self {
            Database::Postgres { .. } => "PostgreSQL",
            _ => "SQLite",
        }
    }

    async fn prepare(given: Option<&str>, work_dir: &std::path::Path) -> anyhow::Result<Database> {
        let Some(given) = given else {
            let path = work_dir.join("usage.db");
            return Ok(Database::SqliteTemp {
                url: format!("sqlite://{}?mode=rwc", path.display()),
            });
        };
        if given.starts_with("sqlite:") {
            return Ok(Database::SqliteGiven {
                url: given.to_owned(),
            });
        }
        if !(given.starts_with("postgres://") || given.starts_with("postgresql://")) {
            bail!("--database-url must start with sqlite:// or postgres://");
        }
        let name = format!("usage_bench_{}", std::process::id());
        let mut url = url::Url::parse(given).context("--database-url is not a URL")?;
        url.set_path(&format!("/{name}"));
        let admin = usage_api::db::connect(given)
            .await
            .context("cannot reach the PostgreSQL server")?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("cannot create the database {name}"))?;
        admin.close().await.ok();
        Ok(Database::Postgres {
            url: url.to_string(),
            admin_url: given.to_owned(),
            name,
        })
    }

    async fn drop_database(&self) -> anyhow::Result<()> {
        if let Database::Postgres {
            admin_url, name, ..
        } = self
        {
            let admin = usage_api::db::connect(admin_url).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                .await
                .with_context(|| format!("cannot drop the database {name}"))?;
            admin.close().await.ok();
        }
        Ok(())
    }
}

/// The first three fields of `/proc/loadavg`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// A random secret for this run (dev tokens, ingest key).
fn secret(label: &str) -> String {
    use rand::Rng as _;
    let bytes: [u8; 16] = rand::rng().random();
    format!(
        "{label}-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Times `runs` calls of `request` after `warmups` untimed ones; returns the first answer too.
async fn repeat<T, F, Fut>(
    warmups: usize,
    runs: usize,
    mut request: F,
) -> anyhow::Result<(Samples, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Duration, T)>>,
{
    let (_, first) = request().await?;
    for _ in 1..warmups {
        request().await?;
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        samples.push(request().await?.0);
    }
    Ok((Samples(samples), first))
}

/// Times a future.
async fn timed<T>(
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(Duration, T)> {
    let started = Instant::now();
    let value = future.await?;
    Ok((started.elapsed(), value))
}

/// An inclusive range of days in a zone, with its instants.
#[derive(Debug, Clone)]
struct Window {
    label: &'static str,
    start: NaiveDate,
    end: NaiveDate,
    zone: &'static str,
    range: DateRange,
}

impl Window {
    fn new(
        label: &'static str,
        start: NaiveDate,
        end: NaiveDate,
        zone: &'static str,
    ) -> anyhow::Result<Window> {
        let tz = usage_api::usage::range::parse_time_zone(zone).map_err(anyhow::Error::msg)?;
        let range = DateRange::resolve(Some(start), Some(end), tz, 366, Utc::now())?;
        Ok(Window {
            label,
            start,
            end,
            zone,
            range,
        })
    }

    fn body(&self) -> bytes::Bytes {
        bytes::Bytes::from(client::summary_body(
            &self.start.to_string(),
            &self.end.to_string(),
            self.zone,
        ))
    }
}

struct Ingestion {
    batches: Samples,
    rates: Vec<f64>,
    events: u64,
    /// Batches in flight at once.
    concurrency: usize,
    /// Time spent sending: the sum of the batch times when one at a time, the wall time of the
    /// whole phase (bodies prepared beforehand) when several.
    sending: Duration,
    /// Wall time of the phase, client-side JSON included.
    wall: Duration,
}

impl Ingestion {
    fn median_rate(&self) -> f64 {
        let mut rates = self.rates.clone();
        rates.sort_by(f64::total_cmp);
        match rates.len() {
            0 => 0.0,
            n if n % 2 == 1 => rates[n / 2],
            n => (rates[n / 2 - 1] + rates[n / 2]) / 2.0,
        }
    }

    fn overall_rate(&self) -> f64 {
        self.events as f64 / self.sending.as_secs_f64().max(1e-9)
    }

    /// The figure held against the target: the median batch when one batch is in flight,
    /// events over wall time when several are.
    fn headline_rate(&self) -> f64 {
        if self.concurrency <= 1 {
            self.median_rate()
        } else {
            self.overall_rate()
        }
    }
}

fn check_outcome(index: usize, sent: usize, outcome: client::IngestOutcome) -> anyhow::Result<()> {
    if outcome.inserted != sent as u64 || outcome.duplicates != 0 {
        bail!(
            "batch {}: {} inserted and {} duplicates, expected {sent} new events",
            index + 1,
            outcome.inserted,
            outcome.duplicates,
        );
    }
    Ok(())
}

async fn ingest(
    client: &Client,
    dataset: &Dataset,
    server: &mut Server,
    concurrency: usize,
) -> anyhow::Result<Ingestion> {
    let started = Instant::now();
    let chunks: Vec<&[data::Call]> = dataset.calls.chunks(BATCH_EVENTS).collect();
    let count = chunks.len();
    let mut timed: Vec<(Duration, usize)> = Vec::with_capacity(count);
    let sending;
    if concurrency <= 1 {
        for (index, chunk) in chunks.iter().enumerate() {
            let body = dataset.ndjson(chunk)?;
            let (elapsed, outcome) = client
                .ingest(body)
                .await
                .with_context(|| format!("batch {} of {count}", index + 1))?;
            check_outcome(index, chunk.len(), outcome)?;
            timed.push((elapsed, chunk.len()));
            if (index + 1) % 10 == 0 || index + 1 == count {
                server.check_alive()?;
                progress(&format!(
                    "  {}/{count} batches, last {} ({:.0} events/s)",
                    index + 1,
                    ms(elapsed),
                    chunk.len() as f64 / elapsed.as_secs_f64()
                ));
            }
        }
        sending = timed.iter().map(|(elapsed, _)| *elapsed).sum();
    } else {
        // Every body first, so that writing them does not compete with the server.
        progress(&format!(
            "  preparing {count} bodies for {concurrency} batches in flight"
        ));
        let bodies = chunks
            .iter()
            .enumerate()
            .map(|(index, chunk)| Ok((index, chunk.len(), dataset.ndjson(chunk)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let queue = std::sync::Mutex::new(bodies.into_iter());
        let done = std::sync::atomic::AtomicUsize::new(0);
        let phase = Instant::now();
        let workers = (0..concurrency).map(|_| async {
            let mut mine = Vec::new();
            loop {
                let next = queue
                    .lock()
                    .map_err(|_| anyhow::anyhow!("queue poisoned"))?
                    .next();
                let Some((index, sent, body)) = next else {
                    return Ok::<_, anyhow::Error>(mine);
                };
                let (elapsed, outcome) = client
                    .ingest(body)
                    .await
                    .with_context(|| format!("batch {} of {count}", index + 1))?;
                check_outcome(index, sent, outcome)?;
                mine.push((index, elapsed, sent));
                let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if finished.is_multiple_of(10) || finished == count {
                    progress(&format!("  {finished}/{count} batches"));
                }
            }
        });
        let mut all: Vec<(usize, Duration, usize)> = futures_util::future::try_join_all(workers)
            .await?
            .into_iter()
            .flatten()
            .collect();
        sending = phase.elapsed();
        server.check_alive()?;
        all.sort_unstable_by_key(|(index, _, _)| *index);
        timed = all
            .into_iter()
            .map(|(_, elapsed, sent)| (elapsed, sent))
            .collect();
    }
    // Only full batches count for the per-batch rate.
    let rates = timed
        .iter()
        .filter(|(_, sent)| *sent == BATCH_EVENTS || count == 1)
        .map(|(elapsed, sent)| *sent as f64 / elapsed.as_secs_f64())
        .collect();
    Ok(Ingestion {
        batches: Samples(timed.iter().map(|(elapsed, _)| *elapsed).collect()),
        rates,
        events: dataset.calls.len() as u64,
        concurrency,
        sending,
        wall: started.elapsed(),
    })
}

/// The server's own parsing and validation of a full batch, run in this process with the same
/// function (`usage_api::ingest::parse_batch`), before the server starts: the share of a batch
/// that is not HTTP or SQL.
fn parse_cost(dataset: &Dataset) -> anyhow::Result<Samples> {
    let prices = usage_api::ingest::PriceTable::built_in();
    let mut samples = Vec::new();
    for chunk in dataset
        .calls
        .chunks(BATCH_EVENTS)
        .filter(|chunk| chunk.len() == BATCH_EVENTS)
        .take(5)
    {
        let body = dataset.ndjson(chunk)?;
        let started = Instant::now();
        let events = usage_api::ingest::parse_batch(
            usage_api::ingest::BatchFormat::Ndjson,
            body.as_bytes(),
            &prices,
            Utc::now(),
        )
        .map_err(|error| anyhow::anyhow!("the generated batch is invalid: {error:?}"))?;
        samples.push(started.elapsed());
        if events.len() != chunk.len() {
            bail!(
                "parse_batch returned {} events of {}",
                events.len(),
                chunk.len()
            );
        }
    }
    Ok(Samples(samples))
}

/// One query's measurement.
struct Measured {
    label: String,
    samples: Samples,
    /// Server CPU seconds per request (warm-ups included), when measured.
    cpu_per_request: Option<f64>,
}

fn sample_row(measured: &Measured) -> Vec<String> {
    let samples = &measured.samples;
    vec![
        measured.label.clone(),
        ms(samples.median()),
        ms(samples.percentile(90.0)),
        ms(samples.min()),
        ms(samples.max()),
        samples.0.len().to_string(),
        measured
            .cpu_per_request
            .map(|seconds| ms(Duration::from_secs_f64(seconds)))
            .unwrap_or_else(|| "–".to_owned()),
    ]
}

fn load_row(name: &str, result: &LoadResult, cpu: &Usage) -> Vec<String> {
    vec![
        name.to_owned(),
        format!("{:.0}", result.requests_per_second),
        thousands(result.requests),
        format!("{:.2} ms", result.p50_ms),
        format!("{:.2} ms", result.p99_ms),
        format!("{:.1} ms", result.max_ms),
        result.socket_errors.to_string(),
        result.bad_status.to_string(),
        result.body_errors.to_string(),
        format!("{:.2} cores", cpu.server_cores()),
        format!("{:.0}%", cpu.machine_busy_fraction() * 100.0),
        format!("{:.2} ms", cpu.server * 1e3 / result.requests.max(1) as f64),
    ]
}

fn ratio(baseline: Duration, measured: Duration) -> f64 {
    baseline.as_secs_f64() / measured.as_secs_f64().max(1e-9)
}

async fn run(args: &Args, work_dir: &std::path::Path) -> anyhow::Result<(Report, Vec<String>)> {
    let sizes = args.sizes();
    let server_bin = match &args.server_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("usage-api"),
    };
    if !server_bin.is_file() {
        bail!(
            "{} not found; build it with `cargo build --release --bin usage-api` (or pass --server-bin)",
            server_bin.display()
        );
    }
    let run_load = !args.no_load && load::available(&args.wrk);
    if !args.no_load && !run_load {
        progress(&format!(
            "{} not found: the load test is skipped (install the Debian package wrk)",
            args.wrk.display()
        ));
    }

    // Data.
    let last_day = Utc::now()
        .date_naive()
        .checked_sub_days(Days::new(1))
        .context("today has no yesterday")?;
    let spec = data::Spec {
        calls: sizes.calls,
        conversations: sizes.conversations,
        light_users: sizes.light_users,
        seed: args.seed,
        last_day,
    };
    progress(&format!(
        "generating {} calls of the heavy user in {} conversations, and {} light users",
        thousands(spec.calls),
        thousands(u64::from(spec.conversations)),
        spec.light_users
    ));
    let generated = Instant::now();
    let dataset = data::generate(&spec)?;
    let generation_time = generated.elapsed();
    let parse_time = parse_cost(&dataset)?;

    // Database and server.
    let database = Database::prepare(args.database_url.as_deref(), work_dir).await?;
    let result = measure(
        args,
        sizes,
        &dataset,
        &database,
        &server_bin,
        run_load,
        work_dir,
        (generation_time, parse_time),
    )
    .await;
    if !args.keep_database
        && let Err(error) = database.drop_database().await
    {
        progress(&format!("warning: {error:#}"));
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    args: &Args,
    sizes: Sizes,
    dataset: &Dataset,
    database: &Database,
    server_bin: &std::path::Path,
    run_load: bool,
    work_dir: &std::path::Path,
    (generation_time, parse_time): (Duration, Samples),
) -> anyhow::Result<(Report, Vec<String>)> {
    let mut problems = Vec::new();
    let load_at_start = load_average();
    let dev_secret = secret("bench-dev");
    let ingest_key = secret("bench-ingest");
    progress(&format!(
        "starting {} on {}",
        server_bin.display(),
        database.engine()
    ));
    let mut server = Server::start(
        server_bin,
        database.url(),
        &dev_secret,
        &ingest_key,
        &work_dir.join("server.log"),
    )?;
    progress(&format!(
        "server pid {} listening on {}",
        server.pid, server.base
    ));
    let jwt =
        usage_api::auth::mint_dev_token(&dev_secret, HEAVY_USER, Duration::from_secs(6 * 3600))?;
    let client = Client::new(&server.base, jwt.clone(), ingest_key)?;
    client.wait_healthy(Duration::from_secs(30)).await?;

    let db: DatabaseConnection = usage_api::db::connect(database.url()).await?;
    if raw::count_rows(&db, "api_calls").await? > 0 {
        bail!("the database already holds events; give an empty one");
    }

    // Ingestion.
    progress(&format!(
        "ingesting {} events in batches of {}",
        thousands(dataset.calls.len() as u64),
        thousands(BATCH_EVENTS as u64)
    ));
    let mark = Mark::now(server.pid)?;
    let ingestion = ingest(&client, dataset, &mut server, args.ingest_concurrency).await?;
    let ingest_cpu = mark.usage(server.pid)?;
    let rss_after_ingest = server.memory_kib("VmRSS")?;
    let stored = raw::count_rows(&db, "api_calls").await?;
    if stored != dataset.calls.len() as i64 {
        problems.push(format!(
            "{stored} API calls stored, {} sent",
            dataset.calls.len()
        ));
    }
    let tool_rows = raw::count_rows(&db, "tool_calls").await?;
    if tool_rows != dataset.tool_calls() as i64 {
        problems.push(format!(
            "{tool_rows} tool calls stored, {} sent",
            dataset.tool_calls()
        ));
    }

    // Queries over HTTP.
    let first_day = dataset.first_day;
    let last_day = dataset.last_day;
    let month_start = last_day
        .checked_sub_days(Days::new(29))
        .context("no 30-day range")?;
    let windows = [
        Window::new("usageSummary, year, UTC", first_day, last_day, "UTC")?,
        Window::new(
            "usageSummary, year, America/Los_Angeles",
            first_day,
            last_day,
            "America/Los_Angeles",
        )?,
        Window::new(
            "usageSummary, year, Asia/Kolkata",
            first_day,
            last_day,
            "Asia/Kolkata",
        )?,
        Window::new("usageSummary, 30 days, UTC", month_start, last_day, "UTC")?,
    ];
    let mut measured = Vec::new();
    for window in &windows {
        progress(&format!(
            "timing {} ({} warm-ups, {} runs)",
            window.label, args.warmups, args.runs
        ));
        let body = window.body();
        let mark = Mark::now(server.pid)?;
        let (samples, answer) = repeat(args.warmups, args.runs, || client.graphql(&body)).await?;
        let cpu = mark.usage(server.pid)?;
        let expected = dataset.expected(
            window.range.start_instant(),
            window.range.end_instant(),
            window.range.zone(),
        );
        problems.extend(checks::summary(
            window.label,
            &answer,
            &expected,
            window.range.day_count(),
        ));
        measured.push(Measured {
            label: window.label.to_owned(),
            samples,
            cpu_per_request: Some(cpu.server / (args.warmups.max(1) + args.runs) as f64),
        });
    }
    let year_utc = &windows[0];
    let (start_text, end_text) = (first_day.to_string(), last_day.to_string());
    let export_query = [
        ("start_date", start_text.as_str()),
        ("end_date", end_text.as_str()),
        ("format", "csv"),
        ("include", "all"),
    ];
    progress(&format!(
        "timing the full CSV export over the year ({} warm-ups, {} runs)",
        args.warmups, args.runs
    ));
    let mark = Mark::now(server.pid)?;
    let (export_samples, (content_type, export_text)) = repeat(args.warmups, args.runs, || async {
        let (elapsed, content_type, text) = client.export(&export_query).await?;
        Ok((elapsed, (content_type, text)))
    })
    .await?;
    let cpu = mark.usage(server.pid)?;
    measured.push(Measured {
        label: "CSV export, year, all sections".to_owned(),
        samples: export_samples,
        cpu_per_request: Some(cpu.server / (args.warmups.max(1) + args.runs) as f64),
    });

    // The raw-row baseline, on the same database.
    let user = raw::user_id(&db, HEAVY_USER).await?;
    let scope = Scope {
        user,
        start_micros: year_utc.range.start_instant() * 1_000_000,
        end_micros: year_utc.range.end_instant() * 1_000_000,
    };
    progress(&format!(
        "timing the raw-row summary (1 warm-up, {} runs)",
        args.raw_runs
    ));
    let (raw_summary_samples, raw_summary) =
        repeat(1, args.raw_runs, || timed(raw::summary(&db, scope))).await?;
    progress(&format!(
        "timing the raw-row export (1 warm-up, {} runs)",
        args.raw_runs
    ));
    let (raw_export_samples, raw_export) =
        repeat(1, args.raw_runs, || timed(raw::export(&db, scope))).await?;
    let year_expected = dataset.expected(
        year_utc.range.start_instant(),
        year_utc.range.end_instant(),
        year_utc.range.zone(),
    );
    let (tools, models) =
        dataset.expected_breakdown(year_utc.range.start_instant(), year_utc.range.end_instant());
    problems.extend(checks::raw_summary(
        "raw summary",
        &raw_summary,
        &year_expected,
    ));
    problems.extend(checks::raw_summary(
        "raw export",
        &raw_export.summary,
        &year_expected,
    ));
    problems.extend(checks::export_csv(
        &content_type,
        &export_text,
        &year_expected,
        &tools,
        &models,
        &raw_export,
    ));
    db.close().await.ok();

    // Load.
    let shape = Shape {
        threads: args.wrk_threads,
        connections: args.wrk_connections,
        seconds: sizes.wrk_seconds,
    };
    let mut load_results = None;
    if run_load {
        progress(&format!(
            "wrk on /healthz: {} threads, {} connections, {} s",
            shape.threads, shape.connections, shape.seconds
        ));
        let mark = Mark::now(server.pid)?;
        let health = load::run(
            &args.wrk,
            &Target {
                url: format!("{}/healthz", server.base),
                post_json: None,
                bearer: None,
            },
            shape,
            work_dir.join("healthz.lua"),
        )?;
        let health_cpu = mark.usage(server.pid)?;
        server.check_alive()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        progress(&format!(
            "wrk on the 30-day usageSummary: {} threads, {} connections, {} s",
            shape.threads, shape.connections, shape.seconds
        ));
        let month_body =
            client::summary_body(&month_start.to_string(), &last_day.to_string(), "UTC");
        let mark = Mark::now(server.pid)?;
        let summary = load::run(
            &args.wrk,
            &Target {
                url: format!("{}/graphql", server.base),
                post_json: Some(month_body),
                bearer: Some(jwt.clone()),
            },
            shape,
            work_dir.join("summary.lua"),
        )?;
        let summary_cpu = mark.usage(server.pid)?;
        server.check_alive()?;
        load_results = Some((health, health_cpu, summary, summary_cpu));
    }

    // Memory, then a graceful stop.
    let peak_kib = server.memory_kib("VmHWM")?;
    progress("stopping the server (SIGTERM)");
    match server.stop(Duration::from_secs(30))? {
        Some(status) if !status.success() => {
            problems.push(format!("usage-api exited with {status} after SIGTERM"))
        }
        _ => {}
    }

    // Report.
    let ingest_rate = ingestion.headline_rate();
    let summary_year = measured[0].samples.median();
    let summary_la = measured[1].samples.median();
    let summary_kolkata = measured[2].samples.median();
    let summary_month = measured[3].samples.median();
    let export_year = measured[4].samples.median();
    let raw_summary_median = raw_summary_samples.median();
    let raw_export_median = raw_export_samples.median();
    let summary_ratio = ratio(raw_summary_median, summary_year);
    let export_ratio = ratio(raw_export_median, export_year);
    let la_factor = ratio(summary_la, summary_year);
    let kolkata_factor = ratio(summary_kolkata, summary_year);

    let mut rows = vec![
        Row {
            figure: if ingestion.concurrency <= 1 {
                format!(
                    "ingestion, median of {}-event NDJSON batches",
                    thousands(BATCH_EVENTS as u64)
                )
            } else {
                format!(
                    "ingestion, {}-event NDJSON batches, {} in flight (events / wall time)",
                    thousands(BATCH_EVENTS as u64),
                    ingestion.concurrency
                )
            },
            value: format!("{} events/s", thousands(ingest_rate.round() as u64)),
            target: "≥ 50,000 events/s".to_owned(),
            verdict: Verdict::of(ingest_rate >= 50_000.0),
        },
        Row {
            figure: "usageSummary, year (UTC): raw scan / usageSummary".to_owned(),
            value: format!(
                "{summary_ratio:.1}× ({} vs {})",
                ms(raw_summary_median),
                ms(summary_year)
            ),
            target: "≥ 50×".to_owned(),
            verdict: Verdict::of(summary_ratio >= 50.0),
        },
        Row {
            figure: "usageSummary, 30 days (UTC)".to_owned(),
            value: ms(summary_month),
            target: "≤ 10 ms".to_owned(),
            verdict: Verdict::of(summary_month <= Duration::from_millis(10)),
        },
        Row {
            figure: "CSV export, year, all sections: raw scan / export".to_owned(),
            value: format!(
                "{export_ratio:.1}× ({} vs {})",
                ms(raw_export_median),
                ms(export_year)
            ),
            target: "≥ 25×".to_owned(),
            verdict: Verdict::of(export_ratio >= 25.0),
        },
        Row {
            figure: "usageSummary, year, America/Los_Angeles / UTC".to_owned(),
            value: format!("{la_factor:.2}× ({})", ms(summary_la)),
            target: "≤ 3×".to_owned(),
            verdict: Verdict::of(la_factor <= 3.0),
        },
        Row {
            figure: "usageSummary, year, Asia/Kolkata / UTC".to_owned(),
            value: format!("{kolkata_factor:.2}× ({})", ms(summary_kolkata)),
            target: "≤ 3×".to_owned(),
            verdict: Verdict::of(kolkata_factor <= 3.0),
        },
    ];
    match &load_results {
        Some((health, _, summary, _)) => {
            let fraction = summary.requests_per_second / health.requests_per_second.max(1e-9);
            rows.push(Row {
                figure: format!(
                    "wrk, 30-day usageSummary, {} connections, {} s: errors",
                    shape.connections, shape.seconds
                ),
                value: format!("{} (healthz: {})", summary.errors(), health.errors()),
                target: "0".to_owned(),
                verdict: Verdict::of(summary.errors() == 0 && health.errors() == 0),
            });
            rows.push(Row {
                figure: "wrk, 30-day usageSummary req/s as a fraction of /healthz".to_owned(),
                value: format!(
                    "{:.1}% ({:.0} vs {:.0} req/s)",
                    fraction * 100.0,
                    summary.requests_per_second,
                    health.requests_per_second
                ),
                target: "≥ 10%".to_owned(),
                verdict: Verdict::of(fraction >= 0.10),
            });
        }
        None => {
            for figure in [
                "wrk: errors",
                "wrk: usageSummary req/s as a fraction of /healthz",
            ] {
                rows.push(Row {
                    figure: figure.to_owned(),
                    value: "not run".to_owned(),
                    target: "0 / ≥ 10%".to_owned(),
                    verdict: Verdict::NotMeasured,
                });
            }
        }
    }
    rows.push(Row {
        figure: "peak RSS of the server (VmHWM), whole run".to_owned(),
        value: format!("{:.1} MiB", peak_kib as f64 / KIB_PER_MIB as f64),
        target: "≤ 256 MiB".to_owned(),
        verdict: Verdict::of(peak_kib <= 256 * KIB_PER_MIB),
    });
    rows.push(Row {
        figure: "figures checked against the generated data and the raw scan".to_owned(),
        value: if problems.is_empty() {
            "all equal".to_owned()
        } else {
            format!("{} differences", problems.len())
        },
        target: "all equal".to_owned(),
        verdict: Verdict::of(problems.is_empty()),
    });

    let mut report = Report::default();
    report.line(&format!("## usage-bench: {}", database.engine()));
    report.line("");
    report.line(&format!(
        "Data: heavy user `{HEAVY_USER}`: {} calls in {} conversations from {first_day} to {last_day} (UTC), \
         a tool call on every third call; {} light users; {} events in all ({} tool calls). \
         Generated in {:.1} s (seed {}).",
        thousands(dataset.heavy_calls() as u64),
        thousands(u64::from(sizes.conversations)),
        sizes.light_users,
        thousands(dataset.calls.len() as u64),
        thousands(dataset.tool_calls() as u64),
        generation_time.as_secs_f64(),
        args.seed
    ));
    report.line("");
    report.line(&format!(
        "Machine: {} CPUs; load average (1, 5, 15 min) {load_at_start} at the start, {} at the end.",
        std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        load_average()
    ));
    report.heading("Targets");
    report.targets(&rows);

    report.heading("Ingestion");
    let batch_count = ingestion.batches.0.len();
    report.table(
        &[
            "batches",
            "in flight",
            "median batch",
            "p90 batch",
            "max batch",
            "median batch events/s",
            "events/s over the sending time",
            "wall time (with client-side JSON)",
            "server CPU",
            "machine busy",
        ],
        &[vec![
            batch_count.to_string(),
            ingestion.concurrency.to_string(),
            ms(ingestion.batches.median()),
            ms(ingestion.batches.percentile(90.0)),
            ms(ingestion.batches.max()),
            thousands(ingestion.median_rate().round() as u64),
            thousands(ingestion.overall_rate().round() as u64),
            format!("{:.1} s", ingestion.wall.as_secs_f64()),
            format!("{:.2} cores", ingest_cpu.server_cores()),
            format!("{:.0}%", ingest_cpu.machine_busy_fraction() * 100.0),
        ]],
    );
    if !parse_time.0.is_empty() {
        report.line("");
        report.line(&format!(
            "Parsing and validating one {}-event batch with the server's own `parse_batch`, in this process: {} (median of {}); \
             the rest of a batch is HTTP transfer and the SQL transaction.",
            thousands(BATCH_EVENTS as u64),
            ms(parse_time.median()),
            parse_time.0.len()
        ));
    }
    if ingestion.rates.len() >= 4 {
        let tenth = (ingestion.rates.len() / 10).max(1);
        let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len() as f64;
        report.line("");
        report.line(&format!(
            "First {tenth} batches: {} events/s on average; last {tenth}: {} events/s.",
            thousands(mean(&ingestion.rates[..tenth]).round() as u64),
            thousands(mean(&ingestion.rates[ingestion.rates.len() - tenth..]).round() as u64)
        ));
    }

    report.heading(&format!(
        "Queries over HTTP ({} warm-ups, then {} timed runs each)",
        args.warmups, args.runs
    ));
    let mut lines: Vec<Vec<String>> = measured.iter().map(sample_row).collect();
    for (label, samples) in [
        (
            "raw scan: summary figures (totals, per day, distinct conversations)",
            &raw_summary_samples,
        ),
        (
            "raw scan: export figures (summary, conversations, tools, models)",
            &raw_export_samples,
        ),
    ] {
        lines.push(sample_row(&Measured {
            label: label.to_owned(),
            samples: samples.clone(),
            cpu_per_request: None,
        }));
    }
    report.table(
        &[
            "request",
            "median",
            "p90",
            "min",
            "max",
            "runs",
            "server CPU per request",
        ],
        &lines,
    );
    report.line("");
    report.line(&format!(
        "The raw scans read `api_calls`, `tool_calls` and `conversations` of the heavy user directly (1 warm-up, {} runs), \
         statements of one figure concurrently on the pool; the export file is {} bytes.",
        args.raw_runs,
        thousands(export_text.len() as u64)
    ));

    report.heading("Load (wrk)");
    match &load_results {
        Some((health, health_cpu, summary, summary_cpu)) => {
            report.table(
                &[
                    "target",
                    "req/s",
                    "requests",
                    "p50",
                    "p99",
                    "max",
                    "socket errors",
                    "HTTP ≥ 400",
                    "GraphQL errors",
                    "server CPU",
                    "machine busy",
                    "server CPU per request",
                ],
                &[
                    load_row("GET /healthz", health, health_cpu),
                    load_row("POST /graphql usageSummary (30 days)", summary, summary_cpu),
                ],
            );
            report.line("");
            report.line(&format!(
                "`wrk -t{} -c{} -d{}s --latency -s SCRIPT URL`, the two runs one after the other, in the same run as above.",
                shape.threads, shape.connections, shape.seconds
            ));
        }
        None => report.line("Not run (wrk not found, or --no-load)."),
    }

    report.heading("Memory");
    report.line(&format!(
        "usage-api VmRSS after ingestion: {:.1} MiB; VmHWM (peak) at the end: {:.1} MiB.",
        rss_after_ingest as f64 / KIB_PER_MIB as f64,
        peak_kib as f64 / KIB_PER_MIB as f64
    ));
    if !problems.is_empty() {
        report.heading("Wrong figures");
        for problem in &problems {
            report.line(&format!("- {problem}"));
        }
    }
    Ok((report, problems))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.runs == 0 || args.raw_runs == 0 {
        eprintln!("error: --runs and --raw-runs must be at least 1");
        return ExitCode::FAILURE;
    }
    let work_dir = std::env::temp_dir().join(format!("usage-bench-{}", std::process::id()));
    if let Err(error) = std::fs::create_dir_all(&work_dir) {
        eprintln!("error: cannot create {}: {error}", work_dir.display());
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let outcome = runtime.block_on(run(&args, &work_dir));
    match outcome {
        Ok((report, problems)) => {
            print!("{}", report.text);
            println!(
                "\nTotal time of the benchmark: {:.0} s.",
                started.elapsed().as_secs_f64()
            );
            if let Some(path) = &args.report
                && let Err(error) = std::fs::write(path, &report.text)
            {
                eprintln!("error: cannot write {}: {error}", path.display());
                return ExitCode::FAILURE;
            }
            if args.keep_database {
                eprintln!("work files kept in {}", work_dir.display());
            } else {
                std::fs::remove_dir_all(&work_dir).ok();
            }
            if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "error: the server answered {} wrong figures (see the report)",
                    problems.len()
                );
                ExitCode::from(2)
            }
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            eprintln!("work files (server log) kept in {}", work_dir.display());
            ExitCode::FAILURE
        }
    }
}
