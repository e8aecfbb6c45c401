//! The domain: what usage is, how it is counted over a date range, and the queries that count
//! it. GraphQL resolvers, the REST download and the export renderer all read through here.

pub mod cache;
pub mod money;
pub mod queries;
pub mod range;

use chrono::{DateTime, NaiveDate, Utc};

pub use money::Money;
pub use range::DateRange;

/// Columns of every usage aggregate table (and of `api_calls`, but for `api_calls` itself):
/// the call count, the four kinds of tokens and the cost.
pub const USAGE_COLUMNS: [&str; 6] = [
    "api_calls",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cost_nanos",
];

/// Internal id of a user (the row id behind a JWT `sub`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub i64);

/// Token and call counts with their cost, the figures every breakdown shares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub api_calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cost: Money,
}

impl UsageTotals {
    /// The four kinds of tokens added.
    pub fn total_tokens(&self) -> i64 {
        self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
    }

    /// Average cost of one call, rounded to a whole nano-dollar (zero without calls).
    pub fn average_cost_per_call(&self) -> Money {
        self.cost.per(self.api_calls)
    }

    pub fn add(&mut self, other: &UsageTotals) {
        self.api_calls += other.api_calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_creation_input_tokens += other.cache_creation_input_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
        self.cost = Money::from_nanos(self.cost.nanos() + other.cost.nanos());
    }
}

/// One day of the daily series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyUsage {
    pub date: NaiveDate,
    pub cost: Money,
    pub total_tokens: i64,
    pub api_calls: i64,
}

/// Totals over a range with one entry per day, zeros included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSummary {
    pub range: DateRange,
    pub totals: UsageTotals,
    pub conversation_count: i64,
    pub daily: Vec<DailyUsage>,
}

/// A conversation's figures, counting only the calls inside the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationUsage {
    /// The caller's `conversation_id`.
    pub id: String,
    pub title: Option<String>,
    pub cost: Money,
    pub total_tokens: i64,
    pub message_count: i64,
    pub first_message_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
}

/// A page of conversations ordered by cost descending, then id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationPage {
    pub items: Vec<ConversationUsage>,
    pub total_count: i64,
    pub has_next_page: bool,
}

/// One tool's calls over a range.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUsage {
    pub name: String,
    pub calls: i64,
    /// Mean over the calls that reported an execution time; 0 when none did.
    pub average_execution_time_ms: f64,
    /// Fraction of calls that succeeded, 0 to 1.
    pub success_rate: f64,
    pub estimated_cost: Money,
}

/// One model's calls over a range.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelUsage {
    pub model: String,
    pub totals: UsageTotals,
    /// Fraction of the range's total cost, 0 to 1.
    pub share_of_cost: f64,
}
