//! Ingestion: parse a batch (JSON or NDJSON), validate and price every event, and store the
//! batch exactly once in one transaction. A batch with any invalid event stores nothing.

pub mod pricing;
pub mod store;
pub mod wire;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{AppError, EventProblem};
pub use pricing::PriceTable;
pub use store::{IngestOutcome, store_events};
pub use wire::{NewEvent, WireEvent};

/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// Most problems listed in one refusal.
const MAX_DETAILS: usize = 100;

/// The body encodings the ingest route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    /// `{"events": [EVENT, …]}`
    Json,
    /// One EVENT per line.
    Ndjson,
}

fn batch_problem(field: &str, message: impl Into<String>) -> AppError {
    let message = message.into();
    AppError::InvalidEvents {
        message: format!("invalid batch: {message}; nothing was stored"),
        details: vec![EventProblem {
            index: None,
            field: field.to_owned(),
            message,
        }],
    }
}

/// Splits a body into the JSON text of each event.
fn split_events(format: BatchFormat, body: &str) -> Result<Vec<&str>, AppError> {
    match format {
        BatchFormat::Json => {
            #[derive(Deserialize)]
            struct Envelope<'a> {
                #[serde(borrow)]
                events: Vec<&'a RawValue>,
            }
            let envelope: Envelope<'_> = serde_json::from_str(body).map_err(|error| {
                let message = error.to_string();
                if message.starts_with("missing field") {
                    batch_problem(
                        "events",
                        "the body must be an object with an \"events\" array",
                    )
                } else {
                    batch_problem("", format!("malformed JSON: {message}"))
                }
            })?;
            Ok(envelope.events.into_iter().map(RawValue::get).collect())
        }
        BatchFormat::Ndjson => Ok(body
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect()),
    }
}

/// Parses and validates a whole batch. Every problem is reported (up to 100), each with the
/// index of its event and the field.
pub fn parse_batch(
    format: BatchFormat,
    body: &[u8],
    prices: &PriceTable,
    now: DateTime<Utc>,
) -> Result<Vec<NewEvent>, AppError> {
    let body = std::str::from_utf8(body).map_err(|_| batch_problem("", "the body is not UTF-8"))?;
    let texts = split_events(format, body)?;
    if texts.is_empty() {
        return Err(batch_problem(
            "events",
            "the batch has no events; send 1 to 10000",
        ));
    }
    if texts.len() > MAX_BATCH_EVENTS {
        return Err(batch_problem(
            "events",
            format!(
                "the batch has {} events; at most {MAX_BATCH_EVENTS} are allowed",
                texts.len()
            ),
        ));
    }
    let mut events = Vec::with_capacity(texts.len());
    let mut problems = Vec::new();
    let mut invalid = 0usize;
    for (index, text) in texts.iter().enumerate() {
        let checked = wire::parse_event(index, text)
            .map_err(|problem| vec![problem])
            .and_then(|wire| wire::validate(index, wire, prices, now));
        match checked {
            Ok(event) => events.push(event),
            Err(found) => {
                invalid += 1;
                let room = MAX_DETAILS.saturating_sub(problems.len());
                problems.extend(found.into_iter().take(room));
            }
        }
    }
    if invalid > 0 {
        return Err(AppError::InvalidEvents {
            message: format!(
                "{invalid} of {} events are invalid; nothing was stored",
                texts.len()
            ),
            details: problems,
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> String {
        format!(
            r#"{{"id":"{id}","user_id":"u","occurred_at":"2025-01-15T10:00:00Z","model":"claude-sonnet-4-5","usage":{{"input_tokens":1,"output_tokens":2}}}}"#
        )
    }

    fn details(result: Result<Vec<NewEvent>, AppError>) -> Vec<(Option<usize>, String)> {
        match result {
            Err(AppError::InvalidEvents { details, .. }) => {
                details.into_iter().map(|d| (d.index, d.field)).collect()
            }
            other => panic!("expected InvalidEvents, got {other:?}"),
        }
    }

    #[test]
    fn json_and_ndjson_give_the_same_events() {
        let prices = PriceTable::built_in();
        let json = format!("{{\"events\": [{}, {}]}}", event("a"), event("b"));
        let ndjson = format!("{}\n\n{}\n", event("a"), event("b"));
        let from_json = parse_batch(BatchFormat::Json, json.as_bytes(), &prices, Utc::now())
            .unwrap_or_default();
        let from_ndjson = parse_batch(BatchFormat::Ndjson, ndjson.as_bytes(), &prices, Utc::now())
            .unwrap_or_default();
        assert_eq!(from_json.len(), 2);
        assert_eq!(from_json, from_ndjson);
    }

    #[test]
    fn reports_every_invalid_event_by_index() {
        let prices = PriceTable::built_in();
        let bad = event("c").replace("\"output_tokens\":2", "\"output_tokens\":-2");
        let json = format!("{{\"events\": [{}, {{\"id\": \"x\"}}, {bad}]}}", event("a"));
        let found = details(parse_batch(
            BatchFormat::Json,
            json.as_bytes(),
            &prices,
            Utc::now(),
        ));
        assert_eq!(found[0], (Some(1), "user_id".to_owned()));
        assert_eq!(found[1], (Some(2), "usage.output_tokens".to_owned()));
    }

    #[test]
    fn refuses_bad_batches_as_a_whole() {
        let prices = PriceTable::built_in();
        let parse =
            |format, body: &str| details(parse_batch(format, body.as_bytes(), &prices, Utc::now()));
        assert_eq!(
            parse(BatchFormat::Json, "{\"events\": []}"),
            vec![(None, "events".to_owned())]
        );
        assert_eq!(
            parse(BatchFormat::Json, "{\"events\": [1,"),
            vec![(None, String::new())]
        );
        assert_eq!(parse(BatchFormat::Json, "[]"), vec![(None, String::new())]);
        assert_eq!(
            parse(BatchFormat::Json, "{}"),
            vec![(None, "events".to_owned())]
        );
        assert_eq!(
            parse(BatchFormat::Ndjson, "\n\n"),
            vec![(None, "events".to_owned())]
        );
        assert_eq!(
            parse(BatchFormat::Ndjson, "{not json}"),
            vec![(Some(0), String::new())]
        );
        let many = vec![event("a"); MAX_BATCH_EVENTS + 1].join("\n");
        assert_eq!(
            parse(BatchFormat::Ndjson, &many),
            vec![(None, "events".to_owned())]
        );
    }
}
