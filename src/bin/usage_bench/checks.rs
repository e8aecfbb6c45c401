//! Correctness checks: what the server answers against the figures computed from the
//! generated data, and against the raw-row baseline. A benchmark of wrong answers is worthless.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::Value;
use usage_api::usage::Money;

use super::data::Expected;
use super::raw::{RawExport, RawSummary};

fn nanos(value: &Value) -> Option<i64> {
    Money::parse(value.as_str()?).ok().map(Money::nanos)
}

/// Compares a `usageSummary` answer with the expected figures; returns the differences.
pub fn summary(label: &str, answer: &Value, expected: &Expected, days: usize) -> Vec<String> {
    let mut problems = Vec::new();
    let summary = &answer["data"]["usageSummary"];
    let mut check = |field: &str, got: Option<i64>, want: i64| {
        if got != Some(want) {
            problems.push(format!("{label}: {field} is {got:?}, expected {want}"));
        }
    };
    check("apiCalls", summary["apiCalls"].as_i64(), expected.api_calls);
    check(
        "inputTokens",
        summary["inputTokens"].as_i64(),
        expected.input_tokens,
    );
    check(
        "outputTokens",
        summary["outputTokens"].as_i64(),
        expected.output_tokens,
    );
    check(
        "cacheCreationInputTokens",
        summary["cacheCreationInputTokens"].as_i64(),
        expected.cache_creation_input_tokens,
    );
    check(
        "cacheReadInputTokens",
        summary["cacheReadInputTokens"].as_i64(),
        expected.cache_read_input_tokens,
    );
    check(
        "totalTokens",
        summary["totalTokens"].as_i64(),
        expected.total_tokens(),
    );
    check(
        "totalCostUsd (nano-dollars)",
        nanos(&summary["totalCostUsd"]),
        expected.cost_nanos,
    );
    check(
        "conversationCount",
        summary["conversationCount"].as_i64(),
        expected.conversations,
    );
    let daily = summary["daily"].as_array().cloned().unwrap_or_default();
    if daily.len() != days {
        problems.push(format!(
            "{label}: daily has {} entries, expected {days}",
            daily.len()
        ));
    }
    let mut wrong_days = Vec::new();
    let mut dates = Vec::new();
    for entry in &daily {
        let Some(date) = entry["date"]
            .as_str()
            .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        else {
            problems.push(format!("{label}: a daily entry has no valid date: {entry}"));
            continue;
        };
        dates.push(date);
        let want = expected.daily.get(&date).copied().unwrap_or_default();
        let got = (
            entry["apiCalls"].as_i64(),
            entry["totalTokens"].as_i64(),
            nanos(&entry["costUsd"]),
        );
        if got
            != (
                Some(want.api_calls),
                Some(want.total_tokens),
                Some(want.cost_nanos),
            )
        {
            wrong_days.push(format!(
                "{date}: got calls/tokens/cost {got:?}, expected ({}, {}, {})",
                want.api_calls, want.total_tokens, want.cost_nanos
            ));
        }
    }
    if dates
        .windows(2)
        .any(|pair| pair[1].signed_duration_since(pair[0]).num_days() != 1)
    {
        problems.push(format!(
            "{label}: daily dates are not consecutive days in order"
        ));
    }
    let covered: i64 = expected
        .daily
        .iter()
        .filter(|(date, _)| !dates.contains(date))
        .map(|(_, day)| day.api_calls)
        .sum();
    if covered != 0 {
        problems.push(format!(
            "{label}: {covered} calls fall on days missing from the daily series"
        ));
    }
    if !wrong_days.is_empty() {
        problems.push(format!(
            "{label}: {} of {} days differ, e.g. {}",
            wrong_days.len(),
            daily.len(),
            wrong_days
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    problems
}

/// Compares the raw-row figures (UTC days) with the expected ones.
pub fn raw_summary(label: &str, raw: &RawSummary, expected: &Expected) -> Vec<String> {
    let mut problems = Vec::new();
    let totals = &raw.totals;
    let got = (
        totals.api_calls,
        totals.input_tokens,
        totals.output_tokens,
        totals.cache_creation_input_tokens,
        totals.cache_read_input_tokens,
        totals.cost_nanos,
        raw.conversations,
    );
    let want = (
        expected.api_calls,
        expected.input_tokens,
        expected.output_tokens,
        expected.cache_creation_input_tokens,
        expected.cache_read_input_tokens,
        expected.cost_nanos,
        expected.conversations,
    );
    if got != want {
        problems.push(format!(
            "{label}: raw totals {got:?} differ from the generated data {want:?}"
        ));
    }
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let raw_days: BTreeMap<NaiveDate, (i64, i64, i64)> = raw
        .daily
        .values()
        .map(|day| {
            let date = epoch + chrono::Duration::days(day.day);
            (date, (day.api_calls, day.total_tokens, day.cost_nanos))
        })
        .collect();
    let want_days: BTreeMap<NaiveDate, (i64, i64, i64)> = expected
        .daily
        .iter()
        .map(|(date, day)| (*date, (day.api_calls, day.total_tokens, day.cost_nanos)))
        .collect();
    if raw_days != want_days {
        problems.push(format!(
            "{label}: the raw daily series differs from the generated data"
        ));
    }
    problems
}

/// Splits one CSV record (RFC 4180 quoting, no line breaks inside fields).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn count(text: &str) -> Option<i64> {
    text.replace(',', "").parse().ok()
}

/// The data rows of each `=== NAME ===` section of a CSV export (header row left out).
fn csv_sections(text: &str) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut sections: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    let mut current: Option<(String, bool)> = None;
    for line in text.split("\r\n") {
        if let Some(name) = line
            .strip_prefix("=== ")
            .and_then(|rest| rest.strip_suffix(" ==="))
        {
            sections.entry(name.to_owned()).or_default();
            current = Some((name.to_owned(), false));
        } else if line.is_empty() {
            current = None;
        } else if let Some((name, header_seen)) = current.as_mut() {
            if *header_seen {
                sections
                    .entry(name.clone())
                    .or_default()
                    .push(csv_fields(line));
            } else {
                *header_seen = true;
            }
        }
    }
    sections
}

/// Checks a full CSV export against the generated data and the raw-row baseline.
pub fn export_csv(
    content_type: &str,
    text: &str,
    expected: &Expected,
    tools: &BTreeMap<&str, i64>,
    models: &BTreeMap<&str, i64>,
    raw: &RawExport,
) -> Vec<String> {
    let mut problems = Vec::new();
    if !content_type.starts_with("text/csv") {
        problems.push(format!("export: Content-Type is \"{content_type}\""));
    }
    let sections = csv_sections(text);
    for name in [
        "SUMMARY",
        "DAILY BREAKDOWN",
        "CONVERSATIONS",
        "TOOLS",
        "MODELS",
    ] {
        if !sections.contains_key(name) {
            problems.push(format!("export: no {name} section"));
        }
    }
    let metric = |name: &str| {
        sections
            .get("SUMMARY")
            .and_then(|rows| {
                rows.iter()
                    .find(|row| row.first().map(String::as_str) == Some(name))
            })
            .and_then(|row| count(row.get(1)?))
    };
    if metric("API Calls") != Some(expected.api_calls) {
        problems.push(format!(
            "export: API Calls is {:?}, expected {}",
            metric("API Calls"),
            expected.api_calls
        ));
    }
    if metric("Conversations") != Some(expected.conversations) {
        problems.push(format!(
            "export: Conversations is {:?}, expected {}",
            metric("Conversations"),
            expected.conversations
        ));
    }
    let daily_calls: i64 = sections
        .get("DAILY BREAKDOWN")
        .map(|rows| rows.iter().filter_map(|row| count(row.get(3)?)).sum())
        .unwrap_or(0);
    if daily_calls != expected.api_calls {
        problems.push(format!(
            "export: the daily breakdown adds up to {daily_calls} calls, expected {}",
            expected.api_calls
        ));
    }
    let ids: Vec<&str> = sections
        .get("CONVERSATIONS")
        .map(|rows| {
            rows.iter()
                .filter_map(|row| row.first().map(String::as_str))
                .collect()
        })
        .unwrap_or_default();
    let raw_ids: Vec<&str> = raw
        .conversations
        .iter()
        .map(|row| row.external_id.as_str())
        .collect();
    if ids != raw_ids {
        let first_difference = ids.iter().zip(&raw_ids).position(|(a, b)| a != b);
        problems.push(format!(
            "export: the conversations listed ({}) differ from the raw top {} (first difference at row {first_difference:?})",
            ids.len(),
            raw_ids.len()
        ));
    }
    if let Some(total) = raw.conversations.first().map(|row| row.total_count)
        && total != expected.conversations
    {
        problems.push(format!(
            "raw export: {total} conversations, expected {}",
            expected.conversations
        ));
    }
    let by_name = |section: &str| -> BTreeMap<String, i64> {
        sections
            .get(section)
            .map(|rows| {
                rows.iter()
                    .filter_map(|row| Some((row.first()?.clone(), count(row.get(1)?)?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let want_tools: BTreeMap<String, i64> =
        tools.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    let want_models: BTreeMap<String, i64> =
        models.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    if by_name("TOOLS") != want_tools {
        problems.push(format!(
            "export: tool calls {:?}, expected {want_tools:?}",
            by_name("TOOLS")
        ));
    }
    if by_name("MODELS") != want_models {
        problems.push(format!(
            "export: model calls {:?}, expected {want_models:?}",
            by_name("MODELS")
        ));
    }
    let raw_tools: BTreeMap<String, i64> = raw
        .tools
        .iter()
        .map(|row| (row.name.clone(), row.calls))
        .collect();
    let raw_models: BTreeMap<String, i64> = raw
        .models
        .iter()
        .map(|row| (row.model.clone(), row.api_calls))
        .collect();
    if raw_tools != want_tools || raw_models != want_models {
        problems.push(
            "raw export: tool or model call counts differ from the generated data".to_owned(),
        );
    }
    let model_sums = raw.models.iter().fold([0_i64; 5], |mut sums, row| {
        for (sum, value) in sums.iter_mut().zip([
            row.input_tokens,
            row.output_tokens,
            row.cache_creation_input_tokens,
            row.cache_read_input_tokens,
            row.cost_nanos,
        ]) {
            *sum += value;
        }
        sums
    });
    let want_sums = [
        expected.input_tokens,
        expected.output_tokens,
        expected.cache_creation_input_tokens,
        expected.cache_read_input_tokens,
        expected.cost_nanos,
    ];
    if model_sums != want_sums {
        problems.push(format!(
            "raw export: the models add up to {model_sums:?}, expected {want_sums:?}"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_csv_fields() {
        assert_eq!(
            csv_fields(r#"conv_1,"Fix the CSV import, ""quoted, commas""",$1.00,"1,234""#),
            vec![
                "conv_1",
                r#"Fix the CSV import, "quoted, commas""#,
                "$1.00",
                "1,234"
            ]
        );
    }

    #[test]
    fn reads_sections() {
        let text = "=== SUMMARY ===\r\nMetric,Value\r\nAPI Calls,\"1,000\"\r\n\r\n=== TOOLS ===\r\nTool Name,Calls\r\nbash,3\r\n";
        let sections = csv_sections(text);
        assert_eq!(
            sections["SUMMARY"],
            vec![vec!["API Calls".to_owned(), "1,000".to_owned()]]
        );
        assert_eq!(
            sections["TOOLS"],
            vec![vec!["bash".to_owned(), "3".to_owned()]]
        );
    }
}
