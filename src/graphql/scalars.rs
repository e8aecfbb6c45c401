//! Custom scalars: `Date` (strict `YYYY-MM-DD`), `DateTime` (RFC 3339 UTC), `Decimal` (exact,
//! as a string) and `Long` (64-bit integer as a JSON number).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDate, SecondsFormat, Utc};

use crate::error::AppError;
use crate::usage::Money;
use crate::usage::range::parse_date;

/// A calendar date. Input is kept as received when it is not exactly `YYYY-MM-DD`, so that the
/// resolver can refuse it naming the field (`range.start`), which a scalar parser cannot do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Date {
    Valid(NaiveDate),
    Malformed(String),
}

impl Date {
    /// The date, or `BAD_USER_INPUT` naming `field`.
    pub fn checked(&self, field: &str) -> Result<NaiveDate, AppError> {
        match self {
            Date::Valid(date) => Ok(*date),
            Date::Malformed(text) => {
                let message = parse_date(text).err().unwrap_or_default();
                Err(AppError::invalid(field, format!("{field}: {message}")))
            }
        }
    }
}

/// A calendar date, `YYYY-MM-DD` (e.g. "2025-01-31"); no other form is accepted.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => Ok(parse_date(text)
                .map(Date::Valid)
                .unwrap_or_else(|_| Date::Malformed(text.clone()))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(_))
    }

    fn to_value(&self) -> Value {
        match self {
            Date::Valid(date) => Value::String(date.format("%Y-%m-%d").to_string()),
            Date::Malformed(text) => Value::String(text.clone()),
        }
    }
}

/// An instant, written in RFC 3339 in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// An instant in RFC 3339, in UTC (e.g. "2025-01-31T12:00:00Z").
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|at| DateTime(at.with_timezone(&Utc)))
                .map_err(|e| {
                    InputValueError::custom(format!("\"{text}\" is not an RFC 3339 timestamp: {e}"))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// An exact amount of US dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(pub Money);

/// An exact decimal number written as a string (e.g. "123.456789"); amounts are US dollars.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => Money::parse(text)
                .map(Decimal)
                .map_err(InputValueError::custom),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// A 64-bit integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Long(pub i64);

/// A 64-bit integer written as a JSON number: token and call counts outgrow Int's 32 bits.
#[Scalar(name = "Long")]
impl ScalarType for Long {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(number) => number
                .as_i64()
                .map(Long)
                .ok_or_else(|| InputValueError::custom("must be a whole number within 64 bits")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_is_strict_and_names_the_field() {
        let parsed = Date::parse(Value::String("2024-02-29".into())).ok();
        assert_eq!(
            parsed
                .and_then(|d| d.checked("range.start").ok())
                .map(|d| d.to_string())
                .as_deref(),
            Some("2024-02-29")
        );
        for bad in ["2023-02-29", "2024-2-9", "2024-02-09 ", "+2024-02-09"] {
            let parsed = Date::parse(Value::String(bad.into())).ok();
            let message = parsed.map(|d| d.checked("range.end").map_err(|e| e.to_string()));
            assert!(
                matches!(&message, Some(Err(text)) if text.starts_with("range.end: ") && text.contains(bad)),
                "{bad}: {message:?}"
            );
        }
        assert!(Date::parse(Value::Number(20240209.into())).is_err());
    }

    #[test]
    fn long_keeps_64_bits() {
        let big = Long(5_000_000_000);
        assert_eq!(big.to_value(), Value::Number(5_000_000_000i64.into()));
        assert_eq!(Long::parse(big.to_value()).ok(), Some(big));
    }

    #[test]
    fn decimal_and_datetime_are_strings() {
        assert_eq!(
            Decimal(Money::from_nanos(12_345_000)).to_value(),
            Value::String("0.012345".into())
        );
        let at = chrono::DateTime::from_timestamp(1_738_324_800, 0).unwrap_or_default();
        assert_eq!(
            DateTime(at).to_value(),
            Value::String("2025-01-31T12:00:00Z".into())
        );
    }
}
