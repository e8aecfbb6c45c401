//! The CSV layout of an export (CONTRACT, section 8): sections in a fixed order, each a title
//! line, a header row and data rows, separated by one empty line; RFC 4180 quoting, CRLF.

use csv::{Terminator, WriterBuilder};

use super::cells::{
    count, date, guard_formula, instant, money, money_per_call, one_decimal, percent,
};
use super::{ExportData, ExportRequest, ExportSection, MAX_EXPORT_CONVERSATIONS, included};
use crate::usage::{ConversationPage, DailyUsage, ModelUsage, ToolUsage, UsageSummary};

const LINE_END: &[u8] = b"\r\n";

/// The whole CSV file.
pub(super) fn render_csv(request: &ExportRequest, data: &ExportData) -> csv::Result<Vec<u8>> {
    let mut sections = Vec::new();
    if let Some(summary) = included(request, ExportSection::Summary, &data.summary) {
        sections.push(section(
            "SUMMARY",
            &["Metric", "Value"],
            summary_rows(request, summary),
        )?);
        sections.push(section(
            "DAILY BREAKDOWN",
            &["Date", "Cost", "Tokens", "API Calls"],
            summary.daily.iter().map(daily_row),
        )?);
    }
    if let Some(page) = included(request, ExportSection::Conversations, &data.conversations) {
        sections.push(section(
            "CONVERSATIONS",
            &[
                "ID",
                "Title",
                "Cost",
                "Tokens",
                "Messages",
                "First Message",
                "Last Message",
            ],
            conversation_rows(page),
        )?);
    }
    if let Some(tools) = included(request, ExportSection::Tools, &data.tools) {
        sections.push(section(
            "TOOLS",
            &[
                "Tool Name",
                "Calls",
                "Avg Execution Time (ms)",
                "Success Rate",
                "Estimated Cost",
            ],
            tools.iter().map(tool_row),
        )?);
    }
    if let Some(models) = included(request, ExportSection::Models, &data.models) {
        sections.push(section(
            "MODELS",
            &[
                "Model",
                "API Calls",
                "Input Tokens",
                "Output Tokens",
                "Cost",
                "% of Total",
            ],
            models.iter().map(model_row),
        )?);
    }
    // Each section ends with a line end; one more makes the empty line between two sections.
    Ok(sections.join(LINE_END))
}

/// One section: `=== TITLE ===`, the header row, then the rows, each ending with CRLF.
fn section(
    title: &str,
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> csv::Result<Vec<u8>> {
    let mut writer = WriterBuilder::new()
        .terminator(Terminator::CRLF)
        .flexible(true)
        .from_writer(Vec::new());
    writer.write_record([format!("=== {title} ===")])?;
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(&row)?;
    }
    writer
        .into_inner()
        .map_err(|error| error.into_error().into())
}

fn summary_rows(request: &ExportRequest, summary: &UsageSummary) -> Vec<Vec<String>> {
    let totals = &summary.totals;
    let range = &request.range;
    [
        (
            "Date Range",
            format!("{} to {}", date(range.start()), date(range.end())),
        ),
        ("Time Zone", range.zone().name().to_owned()),
        ("Total Cost", money(totals.cost)),
        ("Total Tokens", count(totals.total_tokens())),
        ("Input Tokens", count(totals.input_tokens)),
        ("Output Tokens", count(totals.output_tokens)),
        (
            "Cache Write Tokens",
            count(totals.cache_creation_input_tokens),
        ),
        ("Cache Read Tokens", count(totals.cache_read_input_tokens)),
        ("API Calls", count(totals.api_calls)),
        ("Conversations", count(summary.conversation_count)),
        (
            "Avg Cost per Call",
            money_per_call(totals.average_cost_per_call()),
        ),
    ]
    .into_iter()
    .map(|(metric, value)| vec![metric.to_owned(), value])
    .collect()
}

fn daily_row(day: &DailyUsage) -> Vec<String> {
    vec![
        date(day.date),
        money(day.cost),
        count(day.total_tokens),
        count(day.api_calls),
    ]
}

fn conversation_rows(page: &ConversationPage) -> impl Iterator<Item = Vec<String>> + '_ {
    let limit = usize::try_from(MAX_EXPORT_CONVERSATIONS).unwrap_or(usize::MAX);
    page.items.iter().take(limit).map(|conversation| {
        vec![
            guard_formula(&conversation.id).into_owned(),
            conversation
                .title
                .as_deref()
                .map(|title| guard_formula(title).into_owned())
                .unwrap_or_default(),
            money(conversation.cost),
            count(conversation.total_tokens),
            count(conversation.message_count),
            instant(conversation.first_message_at),
            instant(conversation.last_message_at),
        ]
    })
}

fn tool_row(tool: &ToolUsage) -> Vec<String> {
    vec![
        guard_formula(&tool.name).into_owned(),
        count(tool.calls),
        one_decimal(tool.average_execution_time_ms),
        percent(tool.success_rate),
        money(tool.estimated_cost),
    ]
}

fn model_row(model: &ModelUsage) -> Vec<String> {
    vec![
        guard_formula(&model.model).into_owned(),
        count(model.totals.api_calls),
        count(model.totals.input_tokens),
        count(model.totals.output_tokens),
        money(model.totals.cost),
        percent(model.share_of_cost),
    ]
}
