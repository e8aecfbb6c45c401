//! The benchmark's data: one heavy user (a year of agentic use) and a crowd of light users,
//! generated deterministically from a seed, serialised as the ingest route's NDJSON, and the
//! figures the service must answer for them, computed here independently of the database.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Datelike as _, Days, NaiveDate, SecondsFormat, Weekday};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use usage_api::ingest::PriceTable;
use usage_api::ingest::pricing::TokenCounts;
use usage_api::ingest::wire::{WireEvent, WireTool, WireUsage};

/// The user whose figures are measured.
pub const HEAVY_USER: &str = "user_bench_heavy";

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// (model, weight): how often each model is picked.
const MODELS: [(&str, u32); 4] = [
    ("claude-sonnet-4-5", 55),
    ("claude-haiku-4-5", 25),
    ("claude-opus-4-5", 12),
    ("claude-3-5-haiku", 8),
];

/// (tool, typical execution time in ms, success rate).
const TOOLS: [(&str, u32, f64); 6] = [
    ("web_search", 900, 0.97),
    ("code_execution", 2_400, 0.91),
    ("text_editor", 150, 0.995),
    ("web_fetch", 1_300, 0.93),
    ("bash", 700, 0.96),
    ("memory", 60, 1.0),
];

const TITLES: [&str; 16] = [
    "Refactor the auth middleware",
    "Debugging a flaky integration test",
    "SQL query for churn by cohort",
    "Explain Rust lifetimes with examples",
    "Kubernetes autoscaling settings",
    "Code review: payment retries",
    "Design a rate limiter",
    "Draft the incident postmortem",
    "Migrate the billing service to PostgreSQL",
    "Quarterly report summary",
    "Trip planning: Lisbon in May",
    "Fix the CSV import, \"quoted, commas\"",
    "Research: heat pumps vs. gas boilers",
    "Translate the onboarding emails to Spanish",
    "Write property tests for the parser",
    "Summarize the customer interview notes",
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// API calls of the heavy user.
    pub calls: u64,
    /// Conversations of the heavy user.
    pub conversations: u32,
    pub light_users: u32,
    pub seed: u64,
    /// Last day of the data (UTC); the data covers the 365 days ending with it.
    pub last_day: NaiveDate,
}

/// One tool call.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub kind: u8,
    pub execution_time_ms: u32,
    pub success: bool,
}

/// One API call, compactly.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub at_micros: i64,
    pub user: u32,
    pub conversation: u32,
    pub id: u64,
    pub model: u8,
    pub input: u32,
    pub output: u32,
    pub cache_creation: u32,
    pub cache_read: u32,
    /// The price table's cost of this call, in nano-dollars.
    pub cost_nanos: i64,
    pub tool: Option<Tool>,
}

impl Call {
    pub fn total_tokens(&self) -> i64 {
        i64::from(self.input)
            + i64::from(self.output)
            + i64::from(self.cache_creation)
            + i64::from(self.cache_read)
    }
}

#[derive(Debug, Clone)]
pub struct Conversation {
    pub external_id: String,
    pub title: &'static str,
}

/// Everything generated, calls sorted by time (the order a collector would send them in).
#[derive(Debug)]
pub struct Dataset {
    pub users: Vec<String>,
    pub conversations: Vec<Conversation>,
    pub calls: Vec<Call>,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

fn log_uniform(rng: &mut StdRng, low: f64, high: f64) -> u32 {
    let value = (low.ln() + rng.random::<f64>() * (high.ln() - low.ln())).exp();
    value.round() as u32
}

fn pick_model(rng: &mut StdRng) -> u8 {
    let total: u32 = MODELS.iter().map(|(_, weight)| weight).sum();
    let mut roll = rng.random_range(0..total);
    for (index, (_, weight)) in MODELS.iter().enumerate() {
        if roll < *weight {
            return index as u8;
        }
        roll -= weight;
    }
    0
}

/// A random day of the range, weekdays 2.5 times as likely as weekend days.
fn pick_day(rng: &mut StdRng, first_day: NaiveDate, days: u64) -> NaiveDate {
    loop {
        let day = first_day
            .checked_add_days(Days::new(rng.random_range(0..days)))
            .unwrap_or(first_day);
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        if !weekend || rng.random::<f64>() < 0.4 {
            return day;
        }
    }
}

/// An event id like the Messages API's: `msg_` and 24 characters, unique per user.
fn event_id(seed: u64, user: u32, number: u64) -> u64 {
    // SplitMix64 of (seed, user, number): distinct inputs give distinct outputs.
    let mut z = seed ^ (u64::from(user) << 40) ^ number;
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Generator<'a> {
    rng: StdRng,
    prices: &'a PriceTable,
    seed: u64,
    first_day: NaiveDate,
    days: u64,
    range_end: i64,
    calls: Vec<Call>,
    conversations: Vec<Conversation>,
}

impl Generator<'_> {
    /// Adds one conversation of `messages` calls by `user`, inside one session of a few hours.
    fn conversation(&mut self, user: u32, messages: u64, counter: &mut u64) -> anyhow::Result<()> {
        let rng = &mut self.rng;
        let index = u32::try_from(self.conversations.len()).context("too many conversations")?;
        self.conversations.push(Conversation {
            external_id: format!("conv_{user:03}_{index:06}"),
            title: TITLES[rng.random_range(0..TITLES.len())],
        });
        let day = pick_day(rng, self.first_day, self.days);
        let day_start = day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
        let session = rng.random_range(3_600..5 * 3_600_i64);
        // Sessions start between 06:00 and 21:00 UTC, and never run past the last day.
        let start = (day_start + rng.random_range(6 * 3_600..21 * 3_600_i64))
            .min(self.range_end - session - 1);
        let mut offsets: Vec<i64> = (0..messages)
            .map(|_| rng.random_range(0..session * MICROS_PER_SECOND))
            .collect();
        offsets.sort_unstable();
        for offset in offsets {
            let model = pick_model(rng);
            let input = log_uniform(rng, 300.0, 30_000.0);
            let output = log_uniform(rng, 40.0, 4_000.0);
            let cache_read = if rng.random::<f64>() < 0.7 {
                log_uniform(rng, 1_000.0, 120_000.0)
            } else {
                0
            };
            let cache_creation = if rng.random::<f64>() < 0.2 {
                log_uniform(rng, 500.0, 12_000.0)
            } else {
                0
            };
            *counter += 1;
            let tool = counter.is_multiple_of(3).then(|| {
                let kind = rng.random_range(0..TOOLS.len());
                let (_, typical, success_rate) = TOOLS[kind];
                Tool {
                    kind: kind as u8,
                    execution_time_ms: (f64::from(typical) * (0.3 + 1.4 * rng.random::<f64>()))
                        .round() as u32,
                    success: rng.random::<f64>() < success_rate,
                }
            });
            let (model_name, _) = MODELS[usize::from(model)];
            let price = self
                .prices
                .price_of(model_name)
                .with_context(|| format!("no built-in price for {model_name}"))?;
            let tokens = TokenCounts {
                input: i64::from(input),
                output: i64::from(output),
                cache_creation: i64::from(cache_creation),
                cache_read: i64::from(cache_read),
            };
            self.calls.push(Call {
                at_micros: start * MICROS_PER_SECOND + offset,
                user,
                conversation: index,
                id: event_id(self.seed, user, *counter),
                model,
                input,
                output,
                cache_creation,
                cache_read,
                cost_nanos: price.cost(&tokens).nanos(),
                tool,
            });
        }
        Ok(())
    }
}

/// Splits `total` calls over `parts` conversations with skewed sizes (each at least one).
fn conversation_sizes(rng: &mut StdRng, total: u64, parts: u64) -> Vec<u64> {
    let weights: Vec<f64> = (0..parts)
        .map(|_| (rng.random::<f64>() * 2.5).exp())
        .collect();
    let sum: f64 = weights.iter().sum();
    let spare = total - parts;
    let mut sizes: Vec<u64> = weights
        .iter()
        .map(|w| 1 + (spare as f64 * w / sum).floor() as u64)
        .collect();
    let mut missing = total - sizes.iter().sum::<u64>();
    let (mut index, count) = (0, sizes.len());
    while missing > 0 {
        sizes[index % count] += 1;
        missing -= 1;
        index += 1;
    }
    sizes
}

/// Generates the data set for `spec`.
pub fn generate(spec: &Spec) -> anyhow::Result<Dataset> {
    if spec.conversations == 0 || spec.calls < u64::from(spec.conversations) {
        bail!("the heavy user needs at least one call per conversation and one conversation");
    }
    let prices = PriceTable::built_in();
    let days = 365;
    let first_day = spec
        .last_day
        .checked_sub_days(Days::new(days - 1))
        .context("the last day is too early")?;
    let range_end = spec
        .last_day
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .timestamp()
        + SECONDS_PER_DAY;
    let mut generator = Generator {
        rng: StdRng::seed_from_u64(spec.seed),
        prices: &prices,
        seed: spec.seed,
        first_day,
        days,
        range_end,
        calls: Vec::with_capacity(
            usize::try_from(spec.calls).unwrap_or(0) + 400 * spec.light_users as usize,
        ),
        conversations: Vec::new(),
    };
    let mut users = vec![HEAVY_USER.to_owned()];

    let sizes = conversation_sizes(
        &mut generator.rng,
        spec.calls,
        u64::from(spec.conversations),
    );
    let mut counter = 0;
    for size in sizes {
        generator.conversation(0, size, &mut counter)?;
    }
    for light in 1..=spec.light_users {
        users.push(format!("user_bench_light_{light:03}"));
        let calls = generator.rng.random_range(100..=500_u64);
        let conversations = (calls / 20).max(1);
        let sizes = conversation_sizes(&mut generator.rng, calls, conversations);
        let mut counter = 0;
        for size in sizes {
            generator.conversation(light, size, &mut counter)?;
        }
    }
    let mut calls = generator.calls;
    calls.sort_unstable_by_key(|call| (call.at_micros, call.user, call.id));
    Ok(Dataset {
        users,
        conversations: generator.conversations,
        calls,
        first_day,
        last_day: spec.last_day,
    })
}

impl Dataset {
    pub fn heavy_calls(&self) -> usize {
        self.calls.iter().filter(|call| call.user == 0).count()
    }

    pub fn tool_calls(&self) -> usize {
        self.calls.iter().filter(|call| call.tool.is_some()).count()
    }

    /// The wire form of one call.
    fn wire(&self, call: &Call) -> WireEvent {
        let conversation = &self.conversations[call.conversation as usize];
        let at = DateTime::from_timestamp_micros(call.at_micros).unwrap_or_default();
        WireEvent {
            id: format!(
                "msg_{:024x}",
                u128::from(call.id) * 0x1_0000_0001 % (1 << 96)
            ),
            user_id: self.users[call.user as usize].clone(),
            occurred_at: at.to_rfc3339_opts(SecondsFormat::Micros, true),
            model: MODELS[usize::from(call.model)].0.to_owned(),
            usage: WireUsage {
                input_tokens: u64::from(call.input),
                output_tokens: u64::from(call.output),
                cache_creation_input_tokens: Some(u64::from(call.cache_creation)),
                cache_read_input_tokens: Some(u64::from(call.cache_read)),
            },
            cost_usd: None,
            conversation_id: Some(conversation.external_id.clone()),
            conversation_title: Some(conversation.title.to_owned()),
            tools: call.tool.map(|tool| {
                vec![WireTool {
                    name: TOOLS[usize::from(tool.kind)].0.to_owned(),
                    execution_time_ms: Some(u64::from(tool.execution_time_ms)),
                    success: Some(tool.success),
                }]
            }),
        }
    }

    /// One NDJSON body: an event per line.
    pub fn ndjson(&self, calls: &[Call]) -> anyhow::Result<String> {
        let mut body = Vec::with_capacity(calls.len() * 480);
        for call in calls {
            serde_json::to_writer(&mut body, &self.wire(call))?;
            body.push(b'\n');
        }
        String::from_utf8(body).context("NDJSON is UTF-8")
    }
}

/// One day of an expected summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayFigures {
    pub api_calls: i64,
    pub total_tokens: i64,
    pub cost_nanos: i64,
}

/// The figures `usageSummary` must answer, computed from the generated calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub api_calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cost_nanos: i64,
    pub conversations: i64,
    pub daily: BTreeMap<NaiveDate, DayFigures>,
}

impl Expected {
    pub fn total_tokens(&self) -> i64 {
        self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
    }
}

impl Dataset {
    /// The heavy user's figures over `[start, end)` (Unix seconds), days counted in `zone`.
    pub fn expected(&self, start: i64, end: i64, zone: Tz) -> Expected {
        let mut expected = Expected::default();
        let mut seen = vec![false; self.conversations.len()];
        for call in &self.calls {
            if call.user != 0
                || call.at_micros < start * MICROS_PER_SECOND
                || call.at_micros >= end * MICROS_PER_SECOND
            {
                continue;
            }
            expected.api_calls += 1;
            expected.input_tokens += i64::from(call.input);
            expected.output_tokens += i64::from(call.output);
            expected.cache_creation_input_tokens += i64::from(call.cache_creation);
            expected.cache_read_input_tokens += i64::from(call.cache_read);
            expected.cost_nanos += call.cost_nanos;
            if !seen[call.conversation as usize] {
                seen[call.conversation as usize] = true;
                expected.conversations += 1;
            }
            let date = DateTime::from_timestamp_micros(call.at_micros)
                .unwrap_or_default()
                .with_timezone(&zone)
                .date_naive();
            let day = expected.daily.entry(date).or_default();
            day.api_calls += 1;
            day.total_tokens += call.total_tokens();
            day.cost_nanos += call.cost_nanos;
        }
        expected
    }

    /// The heavy user's per-tool and per-model call counts over `[start, end)`.
    pub fn expected_breakdown(
        &self,
        start: i64,
        end: i64,
    ) -> (BTreeMap<&'static str, i64>, BTreeMap<&'static str, i64>) {
        let mut tools = BTreeMap::new();
        let mut models = BTreeMap::new();
        for call in &self.calls {
            if call.user != 0
                || call.at_micros < start * MICROS_PER_SECOND
                || call.at_micros >= end * MICROS_PER_SECOND
            {
                continue;
            }
            *models.entry(MODELS[usize::from(call.model)].0).or_insert(0) += 1;
            if let Some(tool) = call.tool {
                *tools.entry(TOOLS[usize::from(tool.kind)].0).or_insert(0) += 1;
            }
        }
        (tools, models)
    }
}
