//! The JSON layout of an export (CONTRACT, section 8): snake_case keys, sections absent when not
//! included, money as JSON numbers written from the exact decimal.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::Error as _;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::cells::{date, instant};
use super::{ExportData, ExportRequest, ExportSection, MAX_EXPORT_CONVERSATIONS, included};
use crate::usage::{ConversationPage, ModelUsage, Money, ToolUsage, UsageSummary};

/// The whole JSON file: pretty-printed with two-space indents, ending with a newline.
pub(super) fn render_json(
    request: &ExportRequest,
    data: &ExportData,
    generated_at: DateTime<Utc>,
) -> serde_json::Result<Vec<u8>> {
    let summary = included(request, ExportSection::Summary, &data.summary);
    let document = Document {
        export_info: ExportInfo {
            // Whole seconds: the moment of rendering needs no more.
            generated_at: generated_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            date_range: DateRangeJson {
                start_date: date(request.range.start()),
                end_date: date(request.range.end()),
                time_zone: request.range.zone().name(),
            },
        },
        summary: summary.map(SummaryJson::new),
        daily_breakdown: summary.map(|summary| {
            summary
                .daily
                .iter()
                .map(|day| DailyJson {
                    date: date(day.date),
                    cost_usd: JsonMoney(day.cost),
                    total_tokens: day.total_tokens,
                    api_calls: day.api_calls,
                })
                .collect()
        }),
        conversations: included(request, ExportSection::Conversations, &data.conversations)
            .map(ConversationsJson::new),
        tools: included(request, ExportSection::Tools, &data.tools)
            .map(|tools| tools.iter().map(ToolJson::new).collect()),
        models: included(request, ExportSection::Models, &data.models)
            .map(|models| models.iter().map(ModelJson::new).collect()),
    };
    let mut bytes = serde_json::to_vec_pretty(&document)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// An exact amount of dollars written as a JSON number (`0.012345`), never through `f64`.
struct JsonMoney(Money);

impl Serialize for JsonMoney {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // `rust_decimal` writes plain decimal notation (no exponent), which is a JSON number.
        let number =
            RawValue::from_string(self.0.to_decimal().to_string()).map_err(S::Error::custom)?;
        number.serialize(serializer)
    }
}

#[derive(Serialize)]
struct Document<'a> {
    export_info: ExportInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<SummaryJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    daily_breakdown: Option<Vec<DailyJson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversations: Option<ConversationsJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<ToolJson<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    models: Option<Vec<ModelJson<'a>>>,
}

#[derive(Serialize)]
struct ExportInfo {
    generated_at: String,
    date_range: DateRangeJson,
}

#[derive(Serialize)]
struct DateRangeJson {
    start_date: String,
    end_date: String,
    time_zone: &'static str,
}

#[derive(Serialize)]
struct SummaryJson {
    total_cost_usd: JsonMoney,
    input_tokens: i64,
    output_tokens: i64,
    cache_creation_input_tokens: i64,
    cache_read_input_tokens: i64,
    total_tokens: i64,
    api_calls: i64,
    conversation_count: i64,
    average_cost_per_call_usd: JsonMoney,
}

impl SummaryJson {
    fn new(summary: &UsageSummary) -> Self {
        let totals = &summary.totals;
        SummaryJson {
            total_cost_usd: JsonMoney(totals.cost),
            input_tokens: totals.input_tokens,
            output_tokens: totals.output_tokens,
            cache_creation_input_tokens: totals.cache_creation_input_tokens,
            cache_read_input_tokens: totals.cache_read_input_tokens,
            total_tokens: totals.total_tokens(),
            api_calls: totals.api_calls,
            conversation_count: summary.conversation_count,
            average_cost_per_call_usd: JsonMoney(totals.average_cost_per_call()),
        }
    }
}

#[derive(Serialize)]
struct DailyJson {
    date: String,
    cost_usd: JsonMoney,
    total_tokens: i64,
    api_calls: i64,
}

#[derive(Serialize)]
struct ConversationsJson<'a> {
    items: Vec<ConversationJson<'a>>,
    total_count: i64,
}

impl<'a> ConversationsJson<'a> {
    fn new(page: &'a ConversationPage) -> Self {
        let limit = usize::try_from(MAX_EXPORT_CONVERSATIONS).unwrap_or(usize::MAX);
        ConversationsJson {
            items: page
                .items
                .iter()
                .take(limit)
                .map(|conversation| ConversationJson {
                    id: &conversation.id,
                    title: conversation.title.as_deref(),
                    cost_usd: JsonMoney(conversation.cost),
                    total_tokens: conversation.total_tokens,
                    message_count: conversation.message_count,
                    first_message_at: instant(conversation.first_message_at),
                    last_message_at: instant(conversation.last_message_at),
                })
                .collect(),
            total_count: page.total_count,
        }
    }
}

#[derive(Serialize)]
struct ConversationJson<'a> {
    id: &'a str,
    title: Option<&'a str>,
    cost_usd: JsonMoney,
    total_tokens: i64,
    message_count: i64,
    first_message_at: String,
    last_message_at: String,
}

#[derive(Serialize)]
struct ToolJson<'a> {
    name: &'a str,
    calls: i64,
    average_execution_time_ms: f64,
    success_rate: f64,
    estimated_cost_usd: JsonMoney,
}

impl<'a> ToolJson<'a> {
    fn new(tool: &'a ToolUsage) -> Self {
        ToolJson {
            name: &tool.name,
            calls: tool.calls,
            average_execution_time_ms: tool.average_execution_time_ms,
            success_rate: tool.success_rate,
            estimated_cost_usd: JsonMoney(tool.estimated_cost),
        }
    }
}

#[derive(Serialize)]
struct ModelJson<'a> {
    model: &'a str,
    api_calls: i64,
    input_tokens: i64,
    output_tokens: i64,
    cache_creation_input_tokens: i64,
    cache_read_input_tokens: i64,
    cost_usd: JsonMoney,
    share_of_cost: f64,
}

impl<'a> ModelJson<'a> {
    fn new(model: &'a ModelUsage) -> Self {
        let totals = &model.totals;
        ModelJson {
            model: &model.model,
            api_calls: totals.api_calls,
            input_tokens: totals.input_tokens,
            output_tokens: totals.output_tokens,
            cache_creation_input_tokens: totals.cache_creation_input_tokens,
            cache_read_input_tokens: totals.cache_read_input_tokens,
            cost_usd: JsonMoney(totals.cost),
            share_of_cost: model.share_of_cost,
        }
    }
}
