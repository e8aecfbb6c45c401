//! Tests of the rendered files: a fixed data set snapshotted and read back with real CSV and
//! JSON readers, every combination of sections, the size limit, and CSV escaping of any text.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use proptest::prelude::*;
use serde_json::Value;
use serde_json::value::RawValue;

use super::*;
use crate::usage::range::parse_date;
use crate::usage::{ConversationUsage, DailyUsage, Money, UsageTotals};

const NO_LIMIT: u64 = u64::MAX;

fn day(text: &str) -> NaiveDate {
    parse_date(text).unwrap_or_else(|e| panic!("{e}"))
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn dollars(text: &str) -> Money {
    Money::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn fixture_range() -> DateRange {
    DateRange::resolve(
        Some(day("2025-01-01")),
        Some(day("2025-01-03")),
        chrono_tz::America::New_York,
        366,
        at("2025-01-04T00:00:00Z"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn request(format: ExportFormat, sections: SectionSet) -> ExportRequest {
    ExportRequest {
        format,
        sections,
        range: fixture_range(),
    }
}

/// The moment of rendering, with a fraction of a second that the file leaves out.
fn generated_at() -> DateTime<Utc> {
    at("2025-01-04T08:30:00.123456789Z")
}

/// Three days, three conversations (a title with a comma and quotes, one starting with `=`, one
/// without a title), two tools (one named `@tool`), two models; amounts below a cent included.
fn fixture() -> ExportData {
    let total_cost = dollars("1246.845681");
    let totals = UsageTotals {
        api_calls: 4_235,
        input_tokens: 1_500_000,
        output_tokens: 400_000,
        cache_creation_input_tokens: 134_717,
        cache_read_input_tokens: 1_200_000,
        cost: total_cost,
    };
    let conversation =
        |id: &str, title: Option<&str>, cost, tokens, messages, first, last| ConversationUsage {
            id: id.to_owned(),
            title: title.map(str::to_owned),
            cost: dollars(cost),
            total_tokens: tokens,
            message_count: messages,
            first_message_at: at(first),
            last_message_at: at(last),
        };
    let sonnet_cost = dollars("1000");
    let haiku_cost = dollars("246.845681");
    ExportData {
        summary: Some(UsageSummary {
            range: fixture_range(),
            totals,
            conversation_count: 25,
            daily: vec![
                DailyUsage {
                    date: day("2025-01-01"),
                    cost: dollars("12.345678"),
                    total_tokens: 1_234_567,
                    api_calls: 1_234,
                },
                DailyUsage {
                    date: day("2025-01-02"),
                    cost: dollars("0.000003"),
                    total_tokens: 150,
                    api_calls: 1,
                },
                DailyUsage {
                    date: day("2025-01-03"),
                    cost: dollars("1234.5"),
                    total_tokens: 2_000_000,
                    api_calls: 3_000,
                },
            ],
        }),
        conversations: Some(ConversationPage {
            items: vec![
                conversation(
                    "conv_trip",
                    Some("Trip \"planning\", Paris"),
                    "1000.5",
                    1_500_000,
                    42,
                    "2025-01-01T14:03:00Z",
                    "2025-01-03T09:15:30.250Z",
                ),
                conversation(
                    "conv_sheet",
                    Some("=SUM(A1:A9)"),
                    "0.25",
                    3_000,
                    3,
                    "2025-01-02T08:00:00Z",
                    "2025-01-02T08:10:00Z",
                ),
                conversation(
                    "-untitled",
                    None,
                    "0.000003",
                    150,
                    1,
                    "2025-01-02T23:59:59Z",
                    "2025-01-02T23:59:59Z",
                ),
            ],
            total_count: 25,
            has_next_page: true,
        }),
        tools: Some(vec![
            ToolUsage {
                name: "web_search".to_owned(),
                calls: 1_500,
                average_execution_time_ms: 420.25,
                success_rate: 0.9873,
                estimated_cost: dollars("5.5"),
            },
            ToolUsage {
                name: "@tool".to_owned(),
                calls: 3,
                average_execution_time_ms: 1234.56,
                success_rate: 1.0 / 3.0,
                estimated_cost: dollars("0.0042"),
            },
        ]),
        models: Some(vec![
            ModelUsage {
                model: "claude-sonnet-4-5".to_owned(),
                totals: UsageTotals {
                    api_calls: 4_000,
                    input_tokens: 1_400_000,
                    output_tokens: 380_000,
                    cache_creation_input_tokens: 134_717,
                    cache_read_input_tokens: 1_100_000,
                    cost: sonnet_cost,
                },
                share_of_cost: sonnet_cost.fraction_of(total_cost),
            },
            ModelUsage {
                model: "claude-haiku-4-5".to_owned(),
                totals: UsageTotals {
                    api_calls: 235,
                    input_tokens: 100_000,
                    output_tokens: 20_000,
                    cache_creation_input_tokens: 0,
                    cache_read_input_tokens: 100_000,
                    cost: haiku_cost,
                },
                share_of_cost: haiku_cost.fraction_of(total_cost),
            },
        ]),
    }
}

fn render_text(request: &ExportRequest, data: &ExportData) -> String {
    let rendered =
        render(request, data, generated_at(), NO_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8(rendered.bytes).unwrap_or_else(|e| panic!("{e}"))
}

/// Every record of a CSV text, read by a real CSV reader (which skips the empty lines).
fn read_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|record| {
            record
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| row.iter().map(|cell| (*cell).to_owned()).collect())
        .collect()
}

/// The exact JSON text of the value at `path` (object keys, or array indexes as numbers).
fn raw_at(json: &str, path: &[&str]) -> String {
    let Some((first, rest)) = path.split_first() else {
        return json.to_owned();
    };
    let inner: Option<Box<RawValue>> = match first.parse::<usize>() {
        Ok(index) => serde_json::from_str::<Vec<Box<RawValue>>>(json)
            .ok()
            .and_then(|items| items.into_iter().nth(index)),
        Err(_) => serde_json::from_str::<HashMap<String, Box<RawValue>>>(json)
            .ok()
            .and_then(|mut map| map.remove(*first)),
    };
    let inner = inner.unwrap_or_else(|| panic!("no {first} in {json}"));
    raw_at(inner.get(), rest)
}

/// Asserts that every line of `text` ends with CRLF and that there is no BOM.
fn assert_crlf_without_bom(text: &str) {
    assert!(!text.starts_with('\u{feff}'), "BOM found");
    assert!(text.ends_with("\r\n"), "no CRLF at the end");
    assert!(
        !text.replace("\r\n", "").contains(['\r', '\n']),
        "a line end is not CRLF"
    );
}

#[test]
fn csv_snapshot() {
    let text = render_text(&request(ExportFormat::Csv, SectionSet::all()), &fixture());
    assert_crlf_without_bom(&text);
    // insta compares line ends loosely; the assertion above is the one that checks CRLF.
    insta::assert_snapshot!("csv_all_sections", text.replace("\r\n", "\n"));
}

#[test]
fn json_snapshot() {
    let text = render_text(&request(ExportFormat::Json, SectionSet::all()), &fixture());
    assert!(!text.starts_with('\u{feff}'));
    insta::assert_snapshot!("json_all_sections", text);
}

#[test]
fn csv_reads_back_cell_by_cell() {
    let text = render_text(&request(ExportFormat::Csv, SectionSet::all()), &fixture());
    let expected = rows(&[
        &["=== SUMMARY ==="],
        &["Metric", "Value"],
        &["Date Range", "2025-01-01 to 2025-01-03"],
        &["Time Zone", "America/New_York"],
        &["Total Cost", "$1,246.85"],
        &["Total Tokens", "3,234,717"],
        &["Input Tokens", "1,500,000"],
        &["Output Tokens", "400,000"],
        &["Cache Write Tokens", "134,717"],
        &["Cache Read Tokens", "1,200,000"],
        &["API Calls", "4,235"],
        &["Conversations", "25"],
        &["Avg Cost per Call", "$0.2944"],
        &["=== DAILY BREAKDOWN ==="],
        &["Date", "Cost", "Tokens", "API Calls"],
        &["2025-01-01", "$12.35", "1,234,567", "1,234"],
        &["2025-01-02", "$0.000003", "150", "1"],
        &["2025-01-03", "$1,234.50", "2,000,000", "3,000"],
        &["=== CONVERSATIONS ==="],
        &[
            "ID",
            "Title",
            "Cost",
            "Tokens",
            "Messages",
            "First Message",
            "Last Message",
        ],
        &[
            "conv_trip",
            "Trip \"planning\", Paris",
            "$1,000.50",
            "1,500,000",
            "42",
            "2025-01-01T14:03:00Z",
            "2025-01-03T09:15:30.250Z",
        ],
        &[
            "conv_sheet",
            "'=SUM(A1:A9)",
            "$0.25",
            "3,000",
            "3",
            "2025-01-02T08:00:00Z",
            "2025-01-02T08:10:00Z",
        ],
        &[
            "'-untitled",
            "",
            "$0.000003",
            "150",
            "1",
            "2025-01-02T23:59:59Z",
            "2025-01-02T23:59:59Z",
        ],
        &["=== TOOLS ==="],
        &[
            "Tool Name",
            "Calls",
            "Avg Execution Time (ms)",
            "Success Rate",
            "Estimated Cost",
        ],
        &["web_search", "1,500", "420.3", "98.7%", "$5.50"],
        &["'@tool", "3", "1,234.6", "33.3%", "$0.0042"],
        &["=== MODELS ==="],
        &[
            "Model",
            "API Calls",
            "Input Tokens",
            "Output Tokens",
            "Cost",
            "% of Total",
        ],
        &[
            "claude-sonnet-4-5",
            "4,000",
            "1,400,000",
            "380,000",
            "$1,000.00",
            "80.2%",
        ],
        &[
            "claude-haiku-4-5",
            "235",
            "100,000",
            "20,000",
            "$246.85",
            "19.8%",
        ],
    ]);
    assert_eq!(read_csv(&text), expected);
    // Exactly one empty line between sections, none elsewhere.
    let blocks: Vec<&str> = text.split("\r\n\r\n").collect();
    let titles: Vec<&str> = blocks
        .iter()
        .map(|block| block.split("\r\n").next().unwrap_or_default())
        .collect();
    assert_eq!(
        titles,
        [
            "=== SUMMARY ===",
            "=== DAILY BREAKDOWN ===",
            "=== CONVERSATIONS ===",
            "=== TOOLS ===",
            "=== MODELS ===",
        ]
    );
    assert!(!text.contains("\r\n\r\n\r\n"));
    // The title with a comma and quotes is quoted the RFC 4180 way.
    assert!(text.contains(
        "\r\nconv_trip,\"Trip \"\"planning\"\", Paris\",\"$1,000.50\",\"1,500,000\",42,"
    ));
}

#[test]
fn json_reads_back_value_by_value() {
    let text = render_text(&request(ExportFormat::Json, SectionSet::all()), &fixture());
    assert!(text.ends_with("}\n"));
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let keys: Vec<&str> = json
        .as_object()
        .map(|object| object.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut sorted_expected = vec![
        "export_info",
        "summary",
        "daily_breakdown",
        "conversations",
        "tools",
        "models",
    ];
    sorted_expected.sort_unstable();
    let mut sorted_keys = keys.clone();
    sorted_keys.sort_unstable();
    assert_eq!(sorted_keys, sorted_expected);

    let info = &json["export_info"];
    assert_eq!(info["generated_at"], "2025-01-04T08:30:00Z");
    assert_eq!(info["date_range"]["start_date"], "2025-01-01");
    assert_eq!(info["date_range"]["end_date"], "2025-01-03");
    assert_eq!(info["date_range"]["time_zone"], "America/New_York");

    let summary = &json["summary"];
    assert_eq!(summary["input_tokens"], 1_500_000);
    assert_eq!(summary["output_tokens"], 400_000);
    assert_eq!(summary["cache_creation_input_tokens"], 134_717);
    assert_eq!(summary["cache_read_input_tokens"], 1_200_000);
    assert_eq!(summary["total_tokens"], 3_234_717);
    assert_eq!(summary["api_calls"], 4_235);
    assert_eq!(summary["conversation_count"], 25);
    assert_eq!(raw_at(&text, &["summary", "total_cost_usd"]), "1246.845681");
    assert_eq!(
        raw_at(&text, &["summary", "average_cost_per_call_usd"]),
        "0.294414565"
    );

    let daily = json["daily_breakdown"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(daily.len(), 3);
    assert_eq!(daily[1]["date"], "2025-01-02");
    assert_eq!(daily[1]["total_tokens"], 150);
    assert_eq!(daily[1]["api_calls"], 1);
    assert_eq!(
        raw_at(&text, &["daily_breakdown", "1", "cost_usd"]),
        "0.000003"
    );
    assert_eq!(
        raw_at(&text, &["daily_breakdown", "2", "cost_usd"]),
        "1234.5"
    );

    let conversations = &json["conversations"];
    assert_eq!(conversations["total_count"], 25);
    let items = conversations["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["id"], "conv_trip");
    assert_eq!(items[0]["title"], "Trip \"planning\", Paris");
    assert_eq!(items[0]["message_count"], 42);
    assert_eq!(items[0]["first_message_at"], "2025-01-01T14:03:00Z");
    assert_eq!(items[0]["last_message_at"], "2025-01-03T09:15:30.250Z");
    // JSON carries the text as it is: the formula guard is for spreadsheets only.
    assert_eq!(items[1]["title"], "=SUM(A1:A9)");
    assert_eq!(items[2]["id"], "-untitled");
    assert!(items[2]["title"].is_null());
    assert!(
        items[2]
            .as_object()
            .is_some_and(|item| item.contains_key("title"))
    );
    assert_eq!(
        raw_at(&text, &["conversations", "items", "0", "cost_usd"]),
        "1000.5"
    );
    assert_eq!(
        raw_at(&text, &["conversations", "items", "2", "cost_usd"]),
        "0.000003"
    );

    let tools = json["tools"].as_array().cloned().unwrap_or_default();
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["name"], "web_search");
    assert_eq!(tools[0]["calls"], 1_500);
    assert_eq!(tools[0]["average_execution_time_ms"], 420.25);
    assert_eq!(tools[0]["success_rate"], 0.9873);
    assert_eq!(tools[1]["name"], "@tool");
    assert_eq!(
        raw_at(&text, &["tools", "1", "estimated_cost_usd"]),
        "0.0042"
    );

    let models = json["models"].as_array().cloned().unwrap_or_default();
    assert_eq!(models.len(), 2);
    assert_eq!(models[1]["model"], "claude-haiku-4-5");
    assert_eq!(models[1]["api_calls"], 235);
    assert_eq!(models[1]["cache_read_input_tokens"], 100_000);
    assert_eq!(raw_at(&text, &["models", "1", "cost_usd"]), "246.845681");
    let share = models[0]["share_of_cost"].as_f64().unwrap_or_default();
    assert!((share - 1000.0 / 1246.845681).abs() < 1e-12);
}

#[test]
fn json_money_keeps_digits_a_float_would_lose() {
    let mut data = fixture();
    let amount = Money::from_nanos(1_234_567_890_123_456_789);
    if let Some(summary) = data.summary.as_mut() {
        summary.totals.cost = amount;
        summary.totals.api_calls = 1;
    }
    let text = render_text(
        &request(ExportFormat::Json, SectionSet::only(ExportSection::Summary)),
        &data,
    );
    assert_eq!(
        raw_at(&text, &["summary", "total_cost_usd"]),
        "1234567890.123456789"
    );
    assert_eq!(
        raw_at(&text, &["summary", "average_cost_per_call_usd"]),
        "1234567890.123456789"
    );
    // The same amount through a float would have lost its last digits.
    let as_float: f64 = "1234567890.123456789".parse().unwrap_or_default();
    assert_eq!(as_float.to_string(), "1234567890.1234567");
    let zero = render_text(
        &request(ExportFormat::Json, SectionSet::only(ExportSection::Summary)),
        &ExportData {
            summary: Some(UsageSummary {
                range: fixture_range(),
                totals: UsageTotals::default(),
                conversation_count: 0,
                daily: Vec::new(),
            }),
            ..ExportData::default()
        },
    );
    assert_eq!(raw_at(&zero, &["summary", "total_cost_usd"]), "0");
    assert_eq!(raw_at(&zero, &["daily_breakdown"]), "[]");
}

/// The CSV titles and JSON keys a set of sections must produce, in file order.
fn expected_parts(sections: SectionSet) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut titles = Vec::new();
    let mut keys = vec!["export_info"];
    for section in sections.iter() {
        match section {
            ExportSection::Summary => {
                titles.extend(["=== SUMMARY ===", "=== DAILY BREAKDOWN ==="]);
                keys.extend(["summary", "daily_breakdown"]);
            }
            ExportSection::Conversations => {
                titles.push("=== CONVERSATIONS ===");
                keys.push("conversations");
            }
            ExportSection::Tools => {
                titles.push("=== TOOLS ===");
                keys.push("tools");
            }
            ExportSection::Models => {
                titles.push("=== MODELS ===");
                keys.push("models");
            }
        }
    }
    (titles, keys)
}

#[test]
fn each_section_alone_and_every_combination() {
    let data = fixture();
    for bits in 1u8..16 {
        let sections = SectionSet::from_sections(
            ExportSection::ALL
                .into_iter()
                .enumerate()
                .filter(|(index, _)| bits & (1 << index) != 0)
                .map(|(_, section)| section),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (titles, keys) = expected_parts(sections);

        let csv_text = render_text(&request(ExportFormat::Csv, sections), &data);
        assert_crlf_without_bom(&csv_text);
        let csv_titles: Vec<String> = read_csv(&csv_text)
            .into_iter()
            .filter(|record| record.len() == 1 && record[0].starts_with("==="))
            .map(|record| record[0].clone())
            .collect();
        assert_eq!(csv_titles, titles, "{sections}");
        assert_eq!(
            csv_text.split("\r\n\r\n").count(),
            titles.len(),
            "{sections}"
        );
        assert!(csv_text.starts_with(titles[0]), "{sections}");
        assert!(!csv_text.ends_with("\r\n\r\n"), "{sections}");

        let json_text = render_text(&request(ExportFormat::Json, sections), &data);
        assert!(!json_text.starts_with('\u{feff}'));
        let json: Value = serde_json::from_str(&json_text).unwrap_or_else(|e| panic!("{e}"));
        let mut json_keys: Vec<&str> = json
            .as_object()
            .map(|object| object.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut keys = keys;
        json_keys.sort_unstable();
        keys.sort_unstable();
        assert_eq!(json_keys, keys, "{sections}");
    }
}

#[test]
fn sections_render_only_when_included_and_present() {
    let data = ExportData {
        tools: None,
        ..fixture()
    };
    let csv_text = render_text(&request(ExportFormat::Csv, SectionSet::all()), &data);
    assert!(!csv_text.contains("=== TOOLS ==="));
    assert!(csv_text.contains("=== MODELS ==="));
    let json_text = render_text(&request(ExportFormat::Json, SectionSet::all()), &data);
    let json: Value = serde_json::from_str(&json_text).unwrap_or_else(|e| panic!("{e}"));
    assert!(json.get("tools").is_none());
    assert!(json.get("models").is_some());
}

#[test]
fn json_keys_follow_the_contract_order() {
    let text = render_text(&request(ExportFormat::Json, SectionSet::all()), &fixture());
    let positions: Vec<usize> = [
        "\"export_info\"",
        "\"summary\"",
        "\"daily_breakdown\"",
        "\"conversations\"",
        "\"tools\"",
        "\"models\"",
    ]
    .iter()
    .map(|key| text.find(key).unwrap_or_else(|| panic!("{key} missing")))
    .collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "{positions:?}"
    );
    assert!(text.starts_with("{\n  \"export_info\": {\n    \"generated_at\""));
}

#[test]
fn size_limit_at_below_and_one_over() {
    let data = fixture();
    for format in [ExportFormat::Csv, ExportFormat::Json] {
        let request = request(format, SectionSet::all());
        let full =
            render(&request, &data, generated_at(), NO_LIMIT).unwrap_or_else(|e| panic!("{e}"));
        let size = u64::try_from(full.bytes.len()).unwrap_or(u64::MAX);
        let at_limit = render(&request, &data, generated_at(), size);
        assert_eq!(at_limit, Ok(full.clone()));
        assert_eq!(
            render(&request, &data, generated_at(), size - 1),
            Err(ExportError::TooLarge(ExportTooLarge {
                size_bytes: size,
                limit_bytes: size - 1
            }))
        );
        assert_eq!(
            render(&request, &data, generated_at(), 0).map_err(|e| match e {
                ExportError::TooLarge(too_large) => too_large.size_bytes,
                ExportError::Encoding(_) => 0,
            }),
            Err(size)
        );
    }
}

#[test]
fn too_large_maps_to_the_app_error() {
    let error = ExportTooLarge {
        size_bytes: 11,
        limit_bytes: 10,
    };
    assert_eq!(
        error.to_string(),
        "the export would be 11 bytes, over the limit of 10 bytes"
    );
    assert!(matches!(
        AppError::from(error),
        AppError::ExportTooLarge {
            size_bytes: 11,
            limit_bytes: 10
        }
    ));
}

#[test]
fn rendered_export_names_the_file_and_its_type() {
    let data = fixture();
    let csv = render(
        &request(ExportFormat::Csv, SectionSet::all()),
        &data,
        generated_at(),
        NO_LIMIT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(csv.filename, "usage-export-2025-01-01-to-2025-01-03.csv");
    assert_eq!(csv.content_type, "text/csv; charset=utf-8");
    let json = render(
        &request(ExportFormat::Json, SectionSet::all()),
        &data,
        generated_at(),
        NO_LIMIT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json.filename, "usage-export-2025-01-01-to-2025-01-03.json");
    assert_eq!(json.content_type, "application/json");
}

#[test]
fn only_json_depends_on_the_moment_of_rendering() {
    let data = fixture();
    let later = at("2025-02-01T00:00:00Z");
    let csv_request = request(ExportFormat::Csv, SectionSet::all());
    assert_eq!(
        render(&csv_request, &data, generated_at(), NO_LIMIT),
        render(&csv_request, &data, later, NO_LIMIT)
    );
    let json_request = request(ExportFormat::Json, SectionSet::all());
    let first = render_text(&json_request, &data);
    let second = String::from_utf8(
        render(&json_request, &data, later, NO_LIMIT)
            .map(|rendered| rendered.bytes)
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_ne!(first, second);
    assert_eq!(
        first.replace("2025-01-04T08:30:00Z", "2025-02-01T00:00:00Z"),
        second
    );
}

#[test]
fn conversations_are_capped_at_the_top_thousand() {
    let mut data = fixture();
    let template = data
        .conversations
        .as_ref()
        .map(|page| page.items[0].clone())
        .unwrap_or_else(|| panic!("fixture has conversations"));
    let items: Vec<ConversationUsage> = (0..1_001)
        .map(|index| ConversationUsage {
            id: format!("conv_{index:04}"),
            ..template.clone()
        })
        .collect();
    data.conversations = Some(ConversationPage {
        items,
        total_count: 1_500,
        has_next_page: true,
    });
    let sections = SectionSet::only(ExportSection::Conversations);
    let csv_text = render_text(&request(ExportFormat::Csv, sections), &data);
    let records = read_csv(&csv_text);
    assert_eq!(records.len(), 2 + 1_000);
    assert_eq!(records[2 + 999][0], "conv_0999");
    let json_text = render_text(&request(ExportFormat::Json, sections), &data);
    let json: Value = serde_json::from_str(&json_text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        json["conversations"]["items"].as_array().map(Vec::len),
        Some(1_000)
    );
    assert_eq!(json["conversations"]["total_count"], 1_500);
}

#[test]
fn formats_and_section_lists_parse_strictly() {
    assert_eq!(ExportFormat::parse("csv"), Ok(ExportFormat::Csv));
    assert_eq!(ExportFormat::parse("json"), Ok(ExportFormat::Json));
    for bad in ["CSV", "Json", "", "xml", " csv"] {
        let error = ExportFormat::parse(bad).err().unwrap_or_default();
        assert!(error.contains(&format!("\"{bad}\"")), "{error}");
    }
    for format in [ExportFormat::Csv, ExportFormat::Json] {
        assert_eq!(ExportFormat::parse(format.as_str()), Ok(format));
        assert_eq!(format.extension(), format.as_str());
    }

    let parse = |text: &str| SectionSet::parse_list(text).map(SectionSet::as_param);
    assert_eq!(parse("all").as_deref(), Ok("all"));
    assert_eq!(parse("summary").as_deref(), Ok("summary"));
    assert_eq!(parse("tools,summary").as_deref(), Ok("summary,tools"));
    assert_eq!(parse("models,models").as_deref(), Ok("models"));
    assert_eq!(parse("summary,all").as_deref(), Ok("all"));
    assert_eq!(
        parse("models,tools,conversations,summary").as_deref(),
        Ok("all")
    );
    assert_eq!(
        parse("conversations,models").as_deref(),
        Ok("conversations,models")
    );
    for (bad, named) in [
        ("", ""),
        ("Summary", "Summary"),
        ("summary,", ""),
        (",tools", ""),
        ("summary,,tools", ""),
        ("summary, tools", " tools"),
        ("ALL", "ALL"),
        ("daily", "daily"),
    ] {
        let error = SectionSet::parse_list(bad).err().unwrap_or_default();
        assert!(!error.is_empty(), "{bad:?} was accepted");
        if !named.is_empty() {
            assert!(error.contains(&format!("\"{named}\"")), "{error}");
        }
    }
    assert!(SectionSet::from_sections([]).is_err());
    assert_eq!(
        SectionSet::from_sections([ExportSection::Tools, ExportSection::Summary]),
        SectionSet::parse_list("summary,tools")
    );
    let all = SectionSet::all();
    assert!(
        ExportSection::ALL
            .iter()
            .all(|section| all.contains(*section))
    );
    let only = SectionSet::only(ExportSection::Tools);
    assert!(only.contains(ExportSection::Tools) && !only.contains(ExportSection::Summary));
    assert_eq!(only.to_string(), "tools");
}

#[test]
fn filename_names_the_range_and_format() {
    assert_eq!(
        filename(&request(ExportFormat::Csv, SectionSet::all())),
        "usage-export-2025-01-01-to-2025-01-03.csv"
    );
    assert_eq!(
        filename(&request(
            ExportFormat::Json,
            SectionSet::only(ExportSection::Tools)
        )),
        "usage-export-2025-01-01-to-2025-01-03.json"
    );
}

/// Text that exercises the formula guard and CSV quoting more often than `any::<String>()`.
fn awkward_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(?s)[=+@\t\r\n\"', -].{0,12}",
        "(?s)[a-z\"',\r\n ]{0,12}",
    ]
}

proptest! {
    #[test]
    fn any_title_and_tool_name_read_back_as_one_cell(title in awkward_text(), tool_name in awkward_text()) {
        let triggers = ['=', '+', '-', '@', '\t', '\r', '\n'];
        let expected = |text: &str| {
            if text.starts_with(triggers) { format!("'{text}") } else { text.to_owned() }
        };
        let mut data = fixture();
        if let Some(page) = data.conversations.as_mut() {
            page.items.truncate(1);
            page.items[0].id = "conv".to_owned();
            page.items[0].title = Some(title.clone());
        }
        if let Some(tools) = data.tools.as_mut() {
            tools.truncate(1);
            tools[0].name = tool_name.clone();
        }
        let sections = SectionSet::parse_list("conversations,tools").unwrap_or_else(|e| panic!("{e}"));
        let text = render_text(&request(ExportFormat::Csv, sections), &data);
        let records = read_csv(&text);
        prop_assert_eq!(records.len(), 6);
        prop_assert_eq!(records[2].len(), 7);
        prop_assert_eq!(&records[2][0], "conv");
        prop_assert_eq!(&records[2][1], &expected(&title));
        prop_assert_eq!(&records[3][0], "=== TOOLS ===");
        prop_assert_eq!(records[5].len(), 5);
        prop_assert_eq!(&records[5][0], &expected(&tool_name));
    }
}
