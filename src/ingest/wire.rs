//! The wire form of a usage event and its validation into a [`NewEvent`].
//!
//! Parsing is typed (serde) with the path of a failing field kept (`serde_path_to_error`), so
//! every refusal names the event's index and the field, e.g. `usage.output_tokens`.

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::pricing::{PriceTable, TokenCounts};
use crate::error::EventProblem;
use crate::usage::Money;

/// Longest accepted event id, in characters.
pub const MAX_EVENT_ID_CHARS: usize = 200;
/// Longest accepted user, conversation, model or tool id, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest accepted conversation title, in characters.
pub const MAX_TITLE_CHARS: usize = 1_000;
/// Largest accepted token count of one kind in one call.
pub const MAX_TOKENS: u64 = 1_000_000_000_000;
/// Most tool calls in one API call.
pub const MAX_TOOLS_PER_EVENT: usize = 1_000;
/// Largest accepted tool execution time: one day.
pub const MAX_EXECUTION_TIME_MS: u64 = 86_400_000;

/// One usage event as callers send it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireEvent {
    pub id: String,
    pub user_id: String,
    pub occurred_at: String,
    pub model: String,
    pub usage: WireUsage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<WireCost>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<WireTool>>,
}

/// The `usage` object of an Anthropic Messages API response; unknown fields are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
}

/// One tool call made during the API call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireTool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_time_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
}

/// `cost_usd`: a decimal string, or a JSON number.
///
/// A JSON number arrives as an `f64`; its shortest decimal form is the number as written for
/// every cost this service accepts (at most 1,000,000 with 9 decimals: 16 significant digits
/// at most, and all of them with up to 15 round-trip exactly), and anything that does not
/// survive that is refused rather than rounded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum WireCost {
    Text(String),
    Number(f64),
}

impl<'de> Deserialize<'de> for WireCost {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CostVisitor;
        impl Visitor<'_> for CostVisitor {
            type Value = WireCost;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal string or a number")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<WireCost, E> {
                Ok(WireCost::Text(value.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<WireCost, E> {
                Ok(WireCost::Text(value.to_string()))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<WireCost, E> {
                Ok(WireCost::Text(value.to_string()))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<WireCost, E> {
                Ok(WireCost::Number(value))
            }
        }
        deserializer.deserialize_any(CostVisitor)
    }
}

impl WireCost {
    fn to_money(&self) -> Result<Money, String> {
        match self {
            WireCost::Text(text) => Money::parse(text).map_err(|e| format!("\"{text}\" {e}")),
            WireCost::Number(value) => {
                if !value.is_finite() {
                    return Err("must be a finite number".to_owned());
                }
                let text = format!("{value}");
                let money = Money::parse(&text).map_err(|e| format!("{text} {e}"))?;
                let significant = text.trim_start_matches(['0', '.']).replace('.', "");
                if significant.trim_end_matches('0').len() > 15 {
                    return Err(format!(
                        "{text} has too many digits for a JSON number; send it as a string"
                    ));
                }
                Ok(money)
            }
        }
    }
}

/// A validated event, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: String,
    pub user: String,
    pub occurred_at_micros: i64,
    pub model: String,
    pub tokens: TokenCounts,
    pub cost: Money,
    pub conversation: Option<String>,
    pub conversation_title: Option<String>,
    pub tools: Vec<NewToolCall>,
}

/// A validated tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToolCall {
    pub name: String,
    pub execution_time_ms: Option<i64>,
    pub success: bool,
}

/// Parses one event's JSON text; on failure, the problem names the field.
pub fn parse_event(index: usize, text: &str) -> Result<WireEvent, EventProblem> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed: Result<WireEvent, _> = serde_path_to_error::deserialize(&mut deserializer);
    let event = parsed.map_err(|error| {
        let path = match error.path().to_string() {
            unknown if unknown == "?" => ".".to_owned(),
            known => known,
        };
        let inner = error.into_inner();
        let message = inner.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        // serde reports a missing field at its parent; name the field itself.
        let field = match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(missing) if path == "." => missing.to_owned(),
            Some(missing) => format!("{path}.{missing}"),
            None if path == "." => String::new(),
            None => path,
        };
        let field = field.replace("[", ".").replace("]", "");
        problem(index, &field, message)
    })?;
    deserializer
        .end()
        .map_err(|_| problem(index, "", "trailing characters after the event".to_owned()))?;
    Ok(event)
}

fn problem(index: usize, field: &str, message: String) -> EventProblem {
    EventProblem {
        index: Some(index),
        field: field.to_owned(),
        message,
    }
}

fn check_name(
    index: usize,
    field: &str,
    value: &str,
    max: usize,
    problems: &mut Vec<EventProblem>,
) {
    let chars = value.chars().count();
    if value.trim().is_empty() {
        problems.push(problem(index, field, "must not be empty".to_owned()));
    } else if chars > max {
        problems.push(problem(
            index,
            field,
            format!("is {chars} characters long; at most {max} are allowed"),
        ));
    } else if value.chars().any(char::is_control) {
        problems.push(problem(
            index,
            field,
            "must not contain control characters".to_owned(),
        ));
    }
}

fn check_tokens(index: usize, field: &str, value: u64, problems: &mut Vec<EventProblem>) -> i64 {
    if value > MAX_TOKENS {
        problems.push(problem(
            index,
            field,
            format!("{value} is more than {MAX_TOKENS}"),
        ));
        0
    } else {
        i64::try_from(value).unwrap_or(0)
    }
}

/// Earliest accepted `occurred_at`: 2000-01-01T00:00:00Z.
const EARLIEST_MICROS: i64 = 946_684_800_000_000;

/// Checks an event's values and prices it. `now` bounds `occurred_at` (at most a day ahead).
pub fn validate(
    index: usize,
    wire: WireEvent,
    prices: &PriceTable,
    now: DateTime<Utc>,
) -> Result<NewEvent, Vec<EventProblem>> {
    let mut problems = Vec::new();
    let p = &mut problems;
    check_name(index, "id", &wire.id, MAX_EVENT_ID_CHARS, p);
    check_name(index, "user_id", &wire.user_id, MAX_NAME_CHARS, p);
    check_name(index, "model", &wire.model, MAX_NAME_CHARS, p);
    let occurred_at_micros = match DateTime::parse_from_rfc3339(&wire.occurred_at) {
        Ok(at) => {
            let micros = at.timestamp_micros();
            let latest = now.timestamp_micros() + 86_400_000_000;
            if micros < EARLIEST_MICROS {
                p.push(problem(
                    index,
                    "occurred_at",
                    "must not be before 2000-01-01".to_owned(),
                ));
            } else if micros > latest {
                p.push(problem(
                    index,
                    "occurred_at",
                    "must not be more than a day in the future".to_owned(),
                ));
            }
            micros
        }
        Err(error) => {
            p.push(problem(
                index,
                "occurred_at",
                format!(
                    "\"{}\" is not an RFC 3339 timestamp ({error})",
                    wire.occurred_at
                ),
            ));
            0
        }
    };
    let tokens = TokenCounts {
        input: check_tokens(index, "usage.input_tokens", wire.usage.input_tokens, p),
        output: check_tokens(index, "usage.output_tokens", wire.usage.output_tokens, p),
        cache_creation: check_tokens(
            index,
            "usage.cache_creation_input_tokens",
            wire.usage.cache_creation_input_tokens.unwrap_or(0),
            p,
        ),
        cache_read: check_tokens(
            index,
            "usage.cache_read_input_tokens",
            wire.usage.cache_read_input_tokens.unwrap_or(0),
            p,
        ),
    };
    let cost = match &wire.cost_usd {
        Some(cost) => cost.to_money().unwrap_or_else(|message| {
            p.push(problem(index, "cost_usd", message));
            Money::ZERO
        }),
        None => match prices.price_of(&wire.model) {
            Some(price) => price.cost(&tokens),
            None => {
                if !wire.model.trim().is_empty() {
                    p.push(problem(
                        index,
                        "model",
                        format!(
                            "no price is known for model \"{}\"; send cost_usd with the event",
                            wire.model
                        ),
                    ));
                }
                Money::ZERO
            }
        },
    };
    if let Some(conversation) = &wire.conversation_id {
        check_name(index, "conversation_id", conversation, MAX_NAME_CHARS, p);
    }
    if let Some(title) = &wire.conversation_title {
        if wire.conversation_id.is_none() {
            p.push(problem(
                index,
                "conversation_title",
                "needs a conversation_id".to_owned(),
            ));
        }
        let chars = title.chars().count();
        if chars > MAX_TITLE_CHARS {
            p.push(problem(
                index,
                "conversation_title",
                format!("is {chars} characters long; at most {MAX_TITLE_CHARS} are allowed"),
            ));
        }
    }
    let wire_tools = wire.tools.unwrap_or_default();
    if wire_tools.len() > MAX_TOOLS_PER_EVENT {
        p.push(problem(
            index,
            "tools",
            format!(
                "has {} tool calls; at most {MAX_TOOLS_PER_EVENT} are allowed",
                wire_tools.len()
            ),
        ));
    }
    let mut tools = Vec::with_capacity(wire_tools.len());
    for (position, tool) in wire_tools.into_iter().enumerate() {
        check_name(
            index,
            &format!("tools.{position}.name"),
            &tool.name,
            MAX_NAME_CHARS,
            p,
        );
        if tool
            .execution_time_ms
            .is_some_and(|ms| ms > MAX_EXECUTION_TIME_MS)
        {
            p.push(problem(
                index,
                &format!("tools.{position}.execution_time_ms"),
                format!("is more than {MAX_EXECUTION_TIME_MS}"),
            ));
        }
        tools.push(NewToolCall {
            name: tool.name,
            execution_time_ms: tool.execution_time_ms.and_then(|ms| i64::try_from(ms).ok()),
            success: tool.success.unwrap_or(true),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(NewEvent {
        event_id: wire.id,
        user: wire.user_id,
        occurred_at_micros,
        model: wire.model,
        tokens,
        cost,
        conversation: wire.conversation_id,
        conversation_title: wire.conversation_title,
        tools,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn check(text: &str) -> Result<NewEvent, Vec<EventProblem>> {
        let wire = parse_event(3, text).map_err(|p| vec![p])?;
        validate(3, wire, &PriceTable::built_in(), now())
    }

    fn fields(text: &str) -> Vec<String> {
        check(text)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.field)
            .collect()
    }

    const GOOD: &str = r#"{"id":"msg_1","user_id":"u","occurred_at":"2025-01-15T10:00:00Z","model":"claude-sonnet-4-5",
        "usage":{"input_tokens":1200,"output_tokens":350,"cache_creation_input_tokens":0,"cache_read_input_tokens":800,"service_tier":"standard"},
        "conversation_id":"c","conversation_title":"Trip","tools":[{"name":"web_search","execution_time_ms":420,"success":false}]}"#;

    #[test]
    fn accepts_an_anthropic_usage_object_and_prices_it() {
        let event = check(GOOD).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(event.cost.to_string(), "0.00909");
        assert_eq!(event.tokens.cache_read, 800);
        assert_eq!(event.occurred_at_micros, 1_736_935_200_000_000);
        assert_eq!(
            event.tools,
            vec![NewToolCall {
                name: "web_search".into(),
                execution_time_ms: Some(420),
                success: false
            }]
        );
    }

    #[test]
    fn cost_as_string_or_number_is_exact() {
        let with_cost = |cost: &str| {
            check(&GOOD.replace(
                "\"conversation_id\"",
                &format!("\"cost_usd\":{cost},\"conversation_id\""),
            ))
        };
        assert_eq!(
            with_cost("\"0.012345\"").map(|e| e.cost.nanos()),
            Ok(12_345_000)
        );
        assert_eq!(
            with_cost("0.012345").map(|e| e.cost.nanos()),
            Ok(12_345_000)
        );
        assert_eq!(with_cost("2").map(|e| e.cost.nanos()), Ok(2_000_000_000));
        assert_eq!(with_cost("0.1").map(|e| e.cost.nanos()), Ok(100_000_000));
        for bad in [
            "\"-1\"",
            "-0.5",
            "\"abc\"",
            "0.0000000001",
            "true",
            "\"1e3\"",
        ] {
            assert_eq!(
                fields(&GOOD.replace(
                    "\"conversation_id\"",
                    &format!("\"cost_usd\":{bad},\"conversation_id\"")
                )),
                vec!["cost_usd"],
                "{bad}"
            );
        }
    }

    #[test]
    fn names_the_failing_field() {
        assert_eq!(
            fields(&GOOD.replace("\"output_tokens\":350", "\"output_tokens\":-5")),
            vec!["usage.output_tokens"]
        );
        assert_eq!(
            fields(&GOOD.replace("\"output_tokens\":350", "\"output_tokens\":1.5")),
            vec!["usage.output_tokens"]
        );
        assert_eq!(
            fields(&GOOD.replace("\"output_tokens\":350,", "")),
            vec!["usage.output_tokens"]
        );
        assert_eq!(
            fields(&GOOD.replace("\"model\":\"claude-sonnet-4-5\",", "")),
            vec!["model"]
        );
        assert_eq!(
            fields(&GOOD.replace("2025-01-15T10:00:00Z", "yesterday")),
            vec!["occurred_at"]
        );
        assert_eq!(
            fields(&GOOD.replace("2025-01-15T10:00:00Z", "2030-01-01T00:00:00Z")),
            vec!["occurred_at"]
        );
        assert_eq!(fields(&GOOD.replace("\"msg_1\"", "\"\"")), vec!["id"]);
        assert_eq!(
            fields(&GOOD.replace("\"msg_1\"", &format!("\"{}\"", "x".repeat(201)))),
            vec!["id"]
        );
        assert!(check(&GOOD.replace("\"msg_1\"", &format!("\"{}\"", "é".repeat(200)))).is_ok());
        assert_eq!(
            fields(&GOOD.replace("claude-sonnet-4-5", "unknown-model")),
            vec!["model"]
        );
        assert_eq!(
            fields(&GOOD.replace("\"web_search\"", "\"\"")),
            vec!["tools.0.name"]
        );
        assert_eq!(
            fields(&GOOD.replace("\"success\":false", "\"success\":\"no\"")),
            vec!["tools.0.success"]
        );
        assert_eq!(
            fields(&GOOD.replace("\"input_tokens\":1200", "\"input_tokens\":1000000000001")),
            vec!["usage.input_tokens"]
        );
    }

    #[test]
    fn an_unknown_model_with_a_cost_is_fine() {
        let text = GOOD.replace("claude-sonnet-4-5", "my-fine-tune").replace(
            "\"conversation_id\"",
            "\"cost_usd\":\"0.5\",\"conversation_id\"",
        );
        assert_eq!(
            check(&text).map(|e| e.cost.to_string()),
            Ok("0.5".to_owned())
        );
    }
}
