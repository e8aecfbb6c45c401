//! GraphQL output and input types: views of the domain types, kept apart from the database
//! entities. Doc comments become the schema's descriptions.

use async_graphql::{Enum, InputObject, SimpleObject};

use super::scalars::{Date, DateTime, Decimal, Long};
use crate::usage::{self, DateRange as DomainRange};

/// A range of days; every field is optional.
#[derive(Debug, Clone, Default, InputObject)]
pub struct DateRangeInput {
    /// First day, inclusive; default: 30 days before `end`.
    pub start: Option<Date>,
    /// Last day, inclusive; default: today in `timeZone`.
    pub end: Option<Date>,
    /// IANA time zone the days are counted in (e.g. "Europe/Paris"); default "UTC".
    pub time_zone: Option<String>,
}

/// The range a result covers, with defaults applied.
#[derive(Debug, Clone, SimpleObject)]
pub struct DateRange {
    /// First day, inclusive.
    pub start: Date,
    /// Last day, inclusive.
    pub end: Date,
    /// IANA time zone the days are counted in.
    pub time_zone: String,
}

impl From<&DomainRange> for DateRange {
    fn from(range: &DomainRange) -> Self {
        DateRange {
            start: Date::Valid(range.start()),
            end: Date::Valid(range.end()),
            time_zone: range.zone().name().to_owned(),
        }
    }
}

/// The signed-in user.
#[derive(Debug, Clone, SimpleObject)]
pub struct Viewer {
    /// The user's id: the `sub` claim of the session token.
    pub id: async_graphql::ID,
}

/// Usage totals over a range, with a daily series.
#[derive(Debug, Clone, SimpleObject)]
pub struct UsageSummary {
    /// The range covered.
    pub range: DateRange,
    /// Total cost in US dollars.
    pub total_cost_usd: Decimal,
    /// Input tokens.
    pub input_tokens: Long,
    /// Output tokens.
    pub output_tokens: Long,
    /// Tokens written to the prompt cache.
    pub cache_creation_input_tokens: Long,
    /// Tokens read from the prompt cache.
    pub cache_read_input_tokens: Long,
    /// The four kinds of tokens added.
    pub total_tokens: Long,
    /// Number of API calls.
    pub api_calls: Long,
    /// Conversations with at least one call in the range.
    pub conversation_count: Long,
    /// Total cost divided by the number of calls (0 without calls), to the nano-dollar.
    pub average_cost_per_call_usd: Decimal,
    /// One entry per day of the range, zeros included, in order.
    pub daily: Vec<DailyUsage>,
}

impl From<usage::UsageSummary> for UsageSummary {
    fn from(summary: usage::UsageSummary) -> Self {
        let totals = summary.totals;
        UsageSummary {
            range: DateRange::from(&summary.range),
            total_cost_usd: Decimal(totals.cost),
            input_tokens: Long(totals.input_tokens),
            output_tokens: Long(totals.output_tokens),
            cache_creation_input_tokens: Long(totals.cache_creation_input_tokens),
            cache_read_input_tokens: Long(totals.cache_read_input_tokens),
            total_tokens: Long(totals.total_tokens()),
            api_calls: Long(totals.api_calls),
            conversation_count: Long(summary.conversation_count),
            average_cost_per_call_usd: Decimal(totals.average_cost_per_call()),
            daily: summary.daily.into_iter().map(DailyUsage::from).collect(),
        }
    }
}

/// One day of usage.
#[derive(Debug, Clone, SimpleObject)]
pub struct DailyUsage {
    /// The day, in the range's time zone.
    pub date: Date,
    /// Cost in US dollars.
    pub cost_usd: Decimal,
    /// Tokens of all four kinds.
    pub total_tokens: Long,
    /// Number of API calls.
    pub api_calls: Long,
}

impl From<usage::DailyUsage> for DailyUsage {
    fn from(day: usage::DailyUsage) -> Self {
        DailyUsage {
            date: Date::Valid(day.date),
            cost_usd: Decimal(day.cost),
            total_tokens: Long(day.total_tokens),
            api_calls: Long(day.api_calls),
        }
    }
}

/// A conversation; figures count only the calls inside the range.
#[derive(Debug, Clone, SimpleObject)]
pub struct Conversation {
    /// The conversation id given at ingestion.
    pub id: async_graphql::ID,
    /// Title carried by the conversation's most recent titled event.
    pub title: Option<String>,
    /// Cost in US dollars.
    pub cost_usd: Decimal,
    /// Tokens of all four kinds.
    pub total_tokens: Long,
    /// Number of API calls.
    pub message_count: Long,
    /// First call in the range.
    pub first_message_at: DateTime,
    /// Last call in the range.
    pub last_message_at: DateTime,
}

impl From<usage::ConversationUsage> for Conversation {
    fn from(conversation: usage::ConversationUsage) -> Self {
        Conversation {
            id: async_graphql::ID(conversation.id),
            title: conversation.title,
            cost_usd: Decimal(conversation.cost),
            total_tokens: Long(conversation.total_tokens),
            message_count: Long(conversation.message_count),
            first_message_at: DateTime(conversation.first_message_at),
            last_message_at: DateTime(conversation.last_message_at),
        }
    }
}

/// A conversation with its position in the list.
#[derive(Debug, Clone, SimpleObject)]
pub struct ConversationEdge {
    /// Opaque position; pass it as `after` to continue after this conversation.
    pub cursor: String,
    /// The conversation.
    pub node: Conversation,
}

/// Whether more items follow.
#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    /// True when items follow the last edge.
    pub has_next_page: bool,
    /// Cursor of the last edge; null when the page is empty.
    pub end_cursor: Option<String>,
}

/// A page of conversations, ordered by cost descending, then id.
#[derive(Debug, Clone, SimpleObject)]
pub struct ConversationConnection {
    /// The conversations of this page.
    pub edges: Vec<ConversationEdge>,
    /// Whether more conversations follow.
    pub page_info: PageInfo,
    /// Number of conversations with calls in the range, over all pages.
    pub total_count: Long,
}

/// One tool's calls over the range.
#[derive(Debug, Clone, SimpleObject)]
pub struct ToolUsage {
    /// Tool name.
    pub name: String,
    /// Number of calls.
    pub calls: Long,
    /// Mean execution time over the calls that reported one, in milliseconds.
    pub average_execution_time_ms: f64,
    /// Fraction of calls that succeeded, from 0 to 1.
    pub success_rate: f64,
    /// Sum over its calls of the API call's cost divided by that call's number of tool calls.
    pub estimated_cost_usd: Decimal,
}

impl From<usage::ToolUsage> for ToolUsage {
    fn from(tool: usage::ToolUsage) -> Self {
        ToolUsage {
            name: tool.name,
            calls: Long(tool.calls),
            average_execution_time_ms: tool.average_execution_time_ms,
            success_rate: tool.success_rate,
            estimated_cost_usd: Decimal(tool.estimated_cost),
        }
    }
}

/// One model's calls over the range.
#[derive(Debug, Clone, SimpleObject)]
pub struct ModelUsage {
    /// Model id as recorded (e.g. "claude-sonnet-4-5").
    pub model: String,
    /// Number of API calls.
    pub api_calls: Long,
    /// Input tokens.
    pub input_tokens: Long,
    /// Output tokens.
    pub output_tokens: Long,
    /// Tokens written to the prompt cache.
    pub cache_creation_input_tokens: Long,
    /// Tokens read from the prompt cache.
    pub cache_read_input_tokens: Long,
    /// Cost in US dollars.
    pub cost_usd: Decimal,
    /// Fraction of the range's total cost, from 0 to 1.
    pub share_of_cost: f64,
}

impl From<usage::ModelUsage> for ModelUsage {
    fn from(model: usage::ModelUsage) -> Self {
        let totals = model.totals;
        ModelUsage {
            model: model.model,
            api_calls: Long(totals.api_calls),
            input_tokens: Long(totals.input_tokens),
            output_tokens: Long(totals.output_tokens),
            cache_creation_input_tokens: Long(totals.cache_creation_input_tokens),
            cache_read_input_tokens: Long(totals.cache_read_input_tokens),
            cost_usd: Decimal(totals.cost),
            share_of_cost: model.share_of_cost,
        }
    }
}

/// File format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ExportFormat {
    /// Comma-separated values (RFC 4180, CRLF line ends), for spreadsheets.
    Csv,
    /// JSON with exact numbers, for programs.
    Json,
}

/// A part of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ExportSection {
    /// Every section.
    All,
    /// Totals and the daily breakdown.
    Summary,
    /// The top 1,000 conversations by cost.
    Conversations,
    /// Tool usage.
    Tools,
    /// Model usage.
    Models,
}

/// A rendered export.
#[derive(Debug, Clone, SimpleObject)]
pub struct UsageExport {
    /// Suggested file name, e.g. "usage-export-2025-01-01-to-2025-01-31.csv".
    pub filename: String,
    /// MIME type of the file.
    pub content_type: String,
    /// Size of the file in bytes.
    pub byte_size: i32,
    /// The file itself.
    pub content: String,
    /// The REST route for the same export with a signed token valid for 5 minutes; a path,
    /// absolute when the service knows its public URL.
    pub download_url: String,
}
