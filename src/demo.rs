//! Deterministic demo data: a few users with 90 days of realistic usage, written through the
//! same parsing, validation and storage path as the ingest route.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::DatabaseConnection;

use crate::error::AppResult;
use crate::ingest::wire::{WireCost, WireTool, WireUsage};
use crate::ingest::{self, BatchFormat, IngestOutcome, PriceTable, WireEvent};

/// The user the demo token is made for.
pub const DEMO_USER: &str = "user_demo";
const OTHER_USERS: [&str; 7] = [
    "user_alice",
    "user_bob",
    "user_chen",
    "user_dara",
    "user_emeka",
    "user_fatima",
    "user_goran",
];

const TITLES: [&str; 24] = [
    "Trip planning: Lisbon in May",
    "Refactor the auth middleware",
    "Quarterly report summary",
    "Debugging a flaky integration test",
    "Recipe ideas for a dinner party",
    "SQL query for churn by cohort",
    "Cover letter, senior backend role",
    "Explain Rust lifetimes with examples",
    "Marketing copy for the spring launch",
    "Kubernetes autoscaling settings",
    "Translate the onboarding emails to Spanish",
    "Budget spreadsheet formulas",
    "Research: heat pumps vs. gas boilers",
    "Code review: payment retries",
    "Birthday speech for Grandma",
    "Summarize the customer interview notes",
    "Design a rate limiter",
    "Learning plan for statistics",
    "Draft the incident postmortem",
    "Compare three CRM tools",
    "Fix the CSV import, \"quoted, commas\"",
    "=SUM(A1:A9) formulas explained",
    "Résumé ✨ polish",
    "Plan the team offsite agenda",
];

/// (model, weight): how often each model is picked.
const MODELS: [(&str, u32); 4] = [
    ("claude-sonnet-4-5", 60),
    ("claude-haiku-4-5", 25),
    ("claude-opus-4-5", 10),
    ("claude-3-5-haiku-20241022", 5),
];

const TOOLS: [(&str, u64, f64); 5] = [
    ("web_search", 900, 0.97),
    ("code_execution", 2_400, 0.91),
    ("text_editor", 150, 0.995),
    ("web_fetch", 1_300, 0.93),
    ("memory", 60, 1.0),
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoSpec {
    pub users: u32,
    pub days: u32,
    pub calls_per_day: u32,
    pub seed: u64,
    /// Last day of the data (usually today, UTC).
    pub today: NaiveDate,
}

fn pick_model(rng: &mut StdRng) -> &'static str {
    let total: u32 = MODELS.iter().map(|(_, weight)| weight).sum();
    let mut roll = rng.random_range(0..total);
    for (model, weight) in MODELS {
        if roll < weight {
            return model;
        }
        roll -= weight;
    }
    MODELS[0].0
}

/// The demo events, in a fixed order for a given spec.
pub fn demo_events(spec: &DemoSpec) -> Vec<WireEvent> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let users: Vec<String> = std::iter::once(DEMO_USER)
        .chain(OTHER_USERS.iter().copied())
        .take(spec.users.max(1) as usize)
        .map(str::to_owned)
        .chain((OTHER_USERS.len() + 1..spec.users as usize).map(|n| format!("user_{n:04}")))
        .collect();
    let first_day = spec
        .today
        .checked_sub_days(Days::new(u64::from(spec.days.saturating_sub(1))))
        .unwrap_or(spec.today);
    let mut events = Vec::new();
    for (user_index, user) in users.iter().enumerate() {
        // Each user has their own habits: volume, favourite hours.
        let volume = 0.5 + rng.random::<f64>();
        let start_hour = rng.random_range(6..11);
        let mut conversation_number = 0u32;
        for day in first_day.iter_days().take(spec.days as usize) {
            let weekend = matches!(
                chrono::Datelike::weekday(&day),
                chrono::Weekday::Sat | chrono::Weekday::Sun
            );
            let mean = f64::from(spec.calls_per_day) * volume * if weekend { 0.4 } else { 1.0 };
            let mut calls_today = (mean * (0.6 + 0.8 * rng.random::<f64>())).round() as u32;
            let mut call_number = 0u32;
            while calls_today > 0 {
                conversation_number += 1;
                let messages = rng.random_range(1..=12).min(calls_today);
                calls_today -= messages;
                let conversation_id = format!("conv_{user_index}_{conversation_number:05}");
                let title = TITLES[rng.random_range(0..TITLES.len())];
                let hour = rng.random_range(start_hour..(start_hour + 12).min(23));
                let mut at = Utc.from_utc_datetime(
                    &day.and_hms_opt(hour, rng.random_range(0..60), rng.random_range(0..60))
                        .unwrap_or_default(),
                );
                let model = pick_model(&mut rng);
                for message in 0..messages {
                    call_number += 1;
                    at += chrono::Duration::seconds(rng.random_range(20..600));
                    events.push(demo_event(
                        &mut rng,
                        user,
                        day,
                        call_number,
                        model,
                        at,
                        &conversation_id,
                        title,
                        message,
                    ));
                }
            }
        }
    }
    events
}

#[allow(clippy::too_many_arguments)]
fn demo_event(
    rng: &mut StdRng,
    user: &str,
    day: NaiveDate,
    call_number: u32,
    model: &str,
    at: DateTime<Utc>,
    conversation_id: &str,
    title: &str,
    message: u32,
) -> WireEvent {
    let context = u64::from(message) * rng.random_range(400..1_500);
    let input = rng.random_range(200..4_000);
    let tools = if rng.random_bool(0.35) {
        let count = rng.random_range(1..=3);
        (0..count)
            .map(|_| {
                let (name, typical_ms, success_rate) = TOOLS[rng.random_range(0..TOOLS.len())];
                WireTool {
                    name: name.to_owned(),
                    execution_time_ms: Some(typical_ms / 2 + rng.random_range(0..typical_ms)),
                    success: Some(rng.random_bool(success_rate)),
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    WireEvent {
        id: format!("msg_demo_{user}_{}_{call_number:04}", day.format("%Y%m%d")),
        user_id: user.to_owned(),
        occurred_at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        model: model.to_owned(),
        usage: WireUsage {
            input_tokens: input,
            output_tokens: rng.random_range(80..1_800),
            cache_creation_input_tokens: Some(if message == 0 {
                rng.random_range(0..3_000)
            } else {
                0
            }),
            cache_read_input_tokens: Some(context),
        },
        // Most events are priced by the service; a few carry the caller's own cost.
        cost_usd: rng
            .random_bool(0.05)
            .then(|| WireCost::Text(format!("0.{:06}", rng.random_range(100..90_000)))),
        conversation_id: Some(conversation_id.to_owned()),
        conversation_title: (message == 0 || rng.random_bool(0.1)).then(|| title.to_owned()),
        tools: (!tools.is_empty()).then_some(tools),
    }
}

/// Writes the demo events through the ingestion path, in batches, with a progress bar.
pub async fn seed(
    db: &DatabaseConnection,
    prices: &PriceTable,
    spec: &DemoSpec,
    show_progress: bool,
) -> AppResult<IngestOutcome> {
    let events = demo_events(spec);
    let progress = if show_progress {
        ProgressBar::new(events.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} seeding demo data [{bar:40}] {pos}/{len} events ({per_sec})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut total = IngestOutcome::default();
    for batch in events.chunks(5_000) {
        let ndjson: String = batch
            .iter()
            .filter_map(|event| serde_json::to_string(event).ok())
            .collect::<Vec<_>>()
            .join("\n");
        let parsed =
            ingest::parse_batch(BatchFormat::Ndjson, ndjson.as_bytes(), prices, Utc::now())?;
        let outcome = ingest::store_events(db, parsed).await?;
        total.inserted += outcome.inserted;
        total.duplicates += outcome.duplicates;
        progress.inc(batch.len() as u64);
    }
    progress.finish_and_clear();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> DemoSpec {
        DemoSpec {
            users: 3,
            days: 10,
            calls_per_day: 20,
            seed,
            today: NaiveDate::from_ymd_opt(2025, 3, 31).unwrap_or_default(),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_data() {
        let render = |events: Vec<WireEvent>| serde_json::to_string(&events).unwrap_or_default();
        assert_eq!(render(demo_events(&spec(7))), render(demo_events(&spec(7))));
        assert_ne!(render(demo_events(&spec(7))), render(demo_events(&spec(8))));
    }

    #[test]
    fn demo_data_is_valid_and_spans_the_days() {
        let events = demo_events(&spec(42));
        assert!(events.len() > 100);
        let ndjson: Vec<String> = events
            .iter()
            .filter_map(|e| serde_json::to_string(e).ok())
            .collect();
        let now = Utc
            .with_ymd_and_hms(2025, 4, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let parsed = ingest::parse_batch(
            BatchFormat::Ndjson,
            ndjson.join("\n").as_bytes(),
            &PriceTable::built_in(),
            now,
        );
        assert_eq!(parsed.map(|p| p.len()).ok(), Some(events.len()));
        let users: std::collections::BTreeSet<&str> =
            events.iter().map(|e| e.user_id.as_str()).collect();
        assert_eq!(users.len(), 3);
        assert!(users.contains(DEMO_USER));
        let days: std::collections::BTreeSet<&str> =
            events.iter().map(|e| &e.occurred_at[..10]).collect();
        assert!(
            days.len() >= 9
                && days
                    .iter()
                    .all(|d| *d >= "2025-03-22" && *d <= "2025-03-31"),
            "{days:?}"
        );
        let ids: std::collections::HashSet<(&str, &str)> = events
            .iter()
            .map(|e| (e.user_id.as_str(), e.id.as_str()))
            .collect();
        assert_eq!(ids.len(), events.len(), "event ids are unique per user");
    }
}
