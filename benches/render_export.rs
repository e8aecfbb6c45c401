//! Time to render the largest export allowed (10 MiB), CSV and JSON: `cargo bench --bench render_export`.
//!
//! The data set is synthetic and sized so that the rendered file is just under the 10 MiB
//! limit: a year of daily rows, the top 1,000 conversations with long titles, and as many tool
//! rows as it takes (the only unbounded section).

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use usage_api::export::{ExportData, ExportFormat, ExportRequest, SectionSet, render};
use usage_api::usage::{
    ConversationPage, ConversationUsage, DailyUsage, DateRange, ModelUsage, Money, ToolUsage,
    UsageSummary, UsageTotals,
};

const LIMIT: u64 = 10 * 1024 * 1024;

fn data(range: &DateRange, tools: usize) -> ExportData {
    let at =
        |n: i64| DateTime::<Utc>::from_timestamp(1_735_689_600 + n * 3_600, 0).unwrap_or_default();
    let totals = UsageTotals {
        api_calls: 1_000_000,
        input_tokens: 2_345_678_901,
        output_tokens: 345_678_901,
        cache_creation_input_tokens: 45_678_901,
        cache_read_input_tokens: 5_678_901_234,
        cost: Money::from_nanos(12_345_678_901_234),
    };
    ExportData {
        summary: Some(UsageSummary {
            range: range.clone(),
            totals,
            conversation_count: 10_000,
            daily: range
                .days()
                .enumerate()
                .map(|(n, date)| DailyUsage {
                    date,
                    cost: Money::from_nanos(33_000_000_000 + n as i64),
                    total_tokens: 22_000_000,
                    api_calls: 2_740,
                })
                .collect(),
        }),
        conversations: Some(ConversationPage {
            items: (0..1_000)
                .map(|n| ConversationUsage {
                    id: format!("conv_{n:06}"),
                    title: Some(format!(
                        "Planning, \"quoted\" and long title number {n}: {}",
                        "lorem ipsum ".repeat(12)
                    )),
                    cost: Money::from_nanos(9_876_543_210 - n),
                    total_tokens: 2_200_000,
                    message_count: 100,
                    first_message_at: at(n),
                    last_message_at: at(n + 3),
                })
                .collect(),
            total_count: 10_000,
            has_next_page: true,
        }),
        tools: Some(
            (0..tools)
                .map(|n| ToolUsage {
                    name: format!("tool_{n:07}_with_a_descriptive_name"),
                    calls: 1_234 + n as i64,
                    average_execution_time_ms: 412.5 + n as f64 / 7.0,
                    success_rate: 0.987,
                    estimated_cost: Money::from_nanos(123_456_789 + n as i64),
                })
                .collect(),
        ),
        models: Some(
            [
                "claude-sonnet-4-5",
                "claude-haiku-4-5",
                "claude-opus-4-5",
                "claude-3-5-haiku",
            ]
            .iter()
            .map(|model| ModelUsage {
                model: (*model).to_owned(),
                totals,
                share_of_cost: 0.25,
            })
            .collect(),
        ),
    }
}

/// The data set whose rendering in `format` is closest to, and not over, the limit.
fn sized(request: &ExportRequest) -> (ExportData, usize) {
    let size_of = |tools: usize| {
        render(request, &data(&request.range, tools), Utc::now(), u64::MAX)
            .map(|r| r.bytes.len())
            .unwrap_or(0)
    };
    let (base, with_1000) = (size_of(0), size_of(1_000));
    let per_tool = (with_1000 - base) as f64 / 1_000.0;
    let mut tools = ((LIMIT as usize - base) as f64 / per_tool) as usize;
    while size_of(tools) as u64 > LIMIT {
        tools -= 10;
    }
    let size = size_of(tools);
    (data(&request.range, tools), size)
}

fn main() {
    let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default();
    let end = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap_or_default();
    let Ok(range) = DateRange::resolve(Some(start), Some(end), chrono_tz::UTC, 366, Utc::now())
    else {
        return;
    };
    println!("| format | size (bytes) | median render time | runs |");
    println!("|---|---|---|---|");
    for format in [ExportFormat::Csv, ExportFormat::Json] {
        let request = ExportRequest {
            format,
            sections: SectionSet::all(),
            range: range.clone(),
        };
        let (data, size) = sized(&request);
        let mut times: Vec<Duration> = (0..15)
            .map(|_| {
                let started = Instant::now();
                let rendered = render(&request, &data, Utc::now(), LIMIT);
                let elapsed = started.elapsed();
                assert!(rendered.is_ok(), "a file at or under the limit renders");
                elapsed
            })
            .collect();
        times.sort_unstable();
        println!(
            "| {} | {size} | {:.1} ms | {} |",
            format.as_str(),
            times[times.len() / 2].as_secs_f64() * 1e3,
            times.len()
        );
    }
}
