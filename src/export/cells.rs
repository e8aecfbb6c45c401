//! Text of the CSV cells meant for people: counts with thousands separators, dollar amounts,
//! percentages, dates and instants, and the guard against spreadsheet formula injection.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::usage::Money;

/// Nano-dollars in one cent.
const NANOS_PER_CENT: u64 = 10_000_000;

/// Digits of a money amount below one cent that are kept (significant digits).
const SUB_CENT_SIGNIFICANT_DIGITS: u32 = 2;

/// A whole number with thousands separators: `1,234,567`, `-1,234`, `0`.
pub fn count(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{}", group_digits(value.unsigned_abs()))
}

/// A dollar amount for people, never `$0.00` unless it is exactly zero.
///
/// The rule, applied to the exact amount (whole nano-dollars, no float anywhere):
///
/// - exactly zero: `$0.00`;
/// - one cent or more: rounded half-up to two decimals, with thousands separators:
///   `$1,234.57`, `$0.01`, `$12.35` for 12.345;
/// - more than zero but less than one cent: rounded half-up to two significant digits, trailing
///   zeros dropped: `$0.0012` for 0.0012345, `$0.000003`, `$0.005`, `$0.000000001` (one
///   nano-dollar); when that rounding carries up to a full cent (0.00996) it prints `$0.01`;
/// - a negative amount (recorded costs never are) is the same with a leading minus: `-$1.50`.
///
/// "Half-up" rounds a tie away from zero: `$0.125` prints `$0.13`.
pub fn money(amount: Money) -> String {
    let nanos = amount.nanos();
    let sign = if nanos < 0 { "-" } else { "" };
    let magnitude = nanos.unsigned_abs();
    if magnitude == 0 {
        return "$0.00".to_owned();
    }
    if magnitude >= NANOS_PER_CENT {
        let cents = (magnitude + NANOS_PER_CENT / 2) / NANOS_PER_CENT;
        return format!("{sign}${}.{:02}", group_digits(cents / 100), cents % 100);
    }
    // Below one cent: keep the leading significant digits, rounding half-up.
    let digits = magnitude.ilog10() + 1;
    let unit = 10u64.pow(digits.saturating_sub(SUB_CENT_SIGNIFICANT_DIGITS));
    let rounded = (magnitude + unit / 2) / unit * unit;
    // `rounded` is at most one cent (10^7 nano-dollars), so nine digits hold it as a fraction.
    let fraction = format!("{rounded:09}");
    let trimmed = fraction.trim_end_matches('0');
    let shown = if trimmed.len() < 2 {
        &fraction[..2]
    } else {
        trimmed
    };
    format!("{sign}$0.{shown}")
}

/// A per-call average: under one dollar it keeps four decimals, rounded half-up, as the
/// published layout shows (`Avg Cost per Call,$0.0123`), since a typical call costs a few cents;
/// from one dollar up, and below $0.0001, it is [`money`].
pub fn money_per_call(amount: Money) -> String {
    const NANOS_PER_TEN_THOUSANDTH: u64 = 100_000;
    let magnitude = amount.nanos().unsigned_abs();
    if amount.nanos() < 0 || magnitude < NANOS_PER_TEN_THOUSANDTH {
        return money(amount);
    }
    let ten_thousandths = (magnitude + NANOS_PER_TEN_THOUSANDTH / 2) / NANOS_PER_TEN_THOUSANDTH;
    if ten_thousandths >= 10_000 {
        return money(amount);
    }
    format!("$0.{ten_thousandths:04}")
}

/// A number with exactly one decimal, rounded half-up, with thousands separators:
/// `1,234.6`, `420.3`, `0.0`. A value that is not finite (never produced) prints `0.0`.
pub fn one_decimal(value: f64) -> String {
    Decimal::from_f64(value)
        .map(one_decimal_exact)
        .unwrap_or_else(|| "0.0".to_owned())
}

/// A fraction from 0 to 1 as a percentage with one decimal: `0.125` prints `12.5%`.
pub fn percent(fraction: f64) -> String {
    let text = Decimal::from_f64(fraction)
        .and_then(|fraction| fraction.checked_mul(Decimal::ONE_HUNDRED))
        .map(one_decimal_exact)
        .unwrap_or_else(|| "0.0".to_owned());
    format!("{text}%")
}

/// A calendar date as `YYYY-MM-DD`.
pub fn date(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// An instant in RFC 3339, in UTC with a `Z`: `2025-01-31T12:00:00Z`. A fraction of a second
/// is written only when there is one (`2025-01-31T12:00:00.250Z`), so no precision is lost.
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Characters that make a spreadsheet read a cell as a formula (or split it).
const FORMULA_TRIGGERS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\n'];

/// Text that came from users (conversation id and title, tool and model names), made safe for
/// spreadsheets: a leading `'` when it starts with `=`, `+`, `-`, `@`, tab, CR or LF, so that it
/// is shown as text instead of being evaluated. Quoting is left to the CSV writer.
pub fn guard_formula(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_TRIGGERS) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// `value` rounded half-up to one decimal and written with thousands separators.
fn one_decimal_exact(value: Decimal) -> String {
    let mut rounded = value.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(1);
    let tenths = rounded.mantissa();
    let sign = if tenths < 0 { "-" } else { "" };
    let magnitude = tenths.unsigned_abs();
    let whole = u64::try_from(magnitude / 10).unwrap_or(u64::MAX);
    format!("{sign}{}.{}", group_digits(whole), magnitude % 10)
}

/// Decimal digits of `value` in groups of three separated by commas.
fn group_digits(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dollars(text: &str) -> Money {
        Money::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1_234), "-1,234");
        assert_eq!(count(i64::MAX), "9,223,372,036,854,775,807");
        assert_eq!(count(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn money_from_one_cent_has_two_decimals_rounded_half_up() {
        assert_eq!(money(dollars("1234.567")), "$1,234.57");
        assert_eq!(money(dollars("123.45")), "$123.45");
        assert_eq!(money(dollars("12.345")), "$12.35");
        assert_eq!(money(dollars("0.125")), "$0.13");
        assert_eq!(money(dollars("0.124999999")), "$0.12");
        assert_eq!(money(dollars("0.01")), "$0.01");
        assert_eq!(money(dollars("0.0123")), "$0.01");
        assert_eq!(money(dollars("1")), "$1.00");
        assert_eq!(money(dollars("999.995")), "$1,000.00");
        assert_eq!(money(dollars("1000000")), "$1,000,000.00");
    }

    #[test]
    fn money_below_one_cent_keeps_two_significant_digits() {
        assert_eq!(money(Money::ZERO), "$0.00");
        assert_eq!(money(dollars("0.0012345")), "$0.0012");
        assert_eq!(money(dollars("0.00125")), "$0.0013");
        assert_eq!(money(dollars("0.000003")), "$0.000003");
        assert_eq!(money(dollars("0.0000031")), "$0.0000031");
        assert_eq!(money(dollars("0.005")), "$0.005");
        assert_eq!(money(dollars("0.0099")), "$0.0099");
        assert_eq!(money(dollars("0.00996")), "$0.01");
        assert_eq!(money(dollars("0.000000001")), "$0.000000001");
        assert_eq!(money(dollars("0.000000015")), "$0.000000015");
        assert_eq!(money(dollars("0.000000155")), "$0.00000016");
    }

    #[test]
    fn per_call_money_keeps_four_decimals_under_a_dollar() {
        assert_eq!(money_per_call(dollars("0.0123")), "$0.0123");
        assert_eq!(money_per_call(dollars("0.01234")), "$0.0123");
        assert_eq!(money_per_call(dollars("0.01235")), "$0.0124");
        assert_eq!(money_per_call(dollars("0.99996")), "$1.00");
        assert_eq!(money_per_call(dollars("1.234")), "$1.23");
        assert_eq!(money_per_call(dollars("0.00001234")), "$0.000012");
        assert_eq!(money_per_call(dollars("0")), "$0.00");
    }

    #[test]
    fn negative_money_has_a_leading_minus() {
        assert_eq!(money(Money::from_nanos(-1_500_000_000)), "-$1.50");
        assert_eq!(money(Money::from_nanos(-3_000)), "-$0.000003");
        assert_eq!(money(Money::from_nanos(i64::MIN)), "-$9,223,372,036.85");
    }

    #[test]
    fn decimals_and_percentages() {
        assert_eq!(one_decimal(0.0), "0.0");
        assert_eq!(one_decimal(420.25), "420.3");
        assert_eq!(one_decimal(1234.56), "1,234.6");
        assert_eq!(one_decimal(1_234_567.0), "1,234,567.0");
        assert_eq!(one_decimal(-0.04), "0.0");
        assert_eq!(one_decimal(f64::NAN), "0.0");
        assert_eq!(percent(0.125), "12.5%");
        assert_eq!(percent(0.0625), "6.3%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(percent(0.0), "0.0%");
        assert_eq!(percent(0.9873), "98.7%");
        assert_eq!(percent(1.0 / 3.0), "33.3%");
        assert_eq!(percent(f64::INFINITY), "0.0%");
    }

    #[test]
    fn dates_and_instants() {
        let day = NaiveDate::from_ymd_opt(2025, 1, 31).unwrap_or_default();
        assert_eq!(date(day), "2025-01-31");
        let noon = day.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc();
        assert_eq!(instant(noon), "2025-01-31T12:00:00Z");
        assert_eq!(
            instant(noon + chrono::Duration::milliseconds(250)),
            "2025-01-31T12:00:00.250Z"
        );
        assert_eq!(
            instant(noon + chrono::Duration::microseconds(7)),
            "2025-01-31T12:00:00.000007Z"
        );
    }

    #[test]
    fn formula_triggers_get_a_leading_quote() {
        for text in ["=SUM(A1)", "+1", "-2", "@tool", "\tx", "\rx", "\nx"] {
            assert_eq!(guard_formula(text), format!("'{text}"));
        }
        for text in [
            "",
            "web_search",
            "a=b",
            " =x",
            "'already",
            "claude-sonnet-4-5",
        ] {
            assert_eq!(guard_formula(text), text);
        }
    }

    proptest! {
        #[test]
        fn non_zero_money_never_prints_as_zero(nanos in prop_oneof![1i64..100_000_000, 1i64..=i64::MAX]) {
            let text = money(Money::from_nanos(nanos));
            prop_assert_ne!(text.as_str(), "$0.00");
            prop_assert!(text.chars().any(|c| ('1'..='9').contains(&c)), "{}", text);
        }

        #[test]
        fn money_from_one_cent_rounds_half_up_to_cents(nanos in 10_000_000i64..=1_000_000_000_000_000) {
            let cents = (nanos + 5_000_000) / 10_000_000;
            let expected = format!("${}.{:02}", count(cents / 100), cents % 100);
            prop_assert_eq!(money(Money::from_nanos(nanos)), expected);
        }

        #[test]
        fn money_below_one_cent_is_within_half_a_unit_of_the_exact_amount(nanos in 1i64..10_000_000) {
            let text = money(Money::from_nanos(nanos));
            let shown = text.strip_prefix('$').unwrap_or_default();
            let shown = Money::parse(shown).unwrap_or_else(|e| panic!("{text}: {e}"));
            let unit = 10i64.pow((nanos.ilog10() + 1).saturating_sub(2));
            prop_assert!((shown.nanos() - nanos).abs() * 2 <= unit, "{} for {} nanos", text, nanos);
            let digits = text.trim_start_matches(['$', '0', '.']).len();
            prop_assert!(digits <= 2, "{}", text);
        }

        #[test]
        fn counts_read_back(value in any::<i64>()) {
            let text = count(value);
            prop_assert_eq!(text.replace(',', "").parse::<i64>().ok(), Some(value));
            prop_assert!(text.split(',').skip(1).all(|group| group.len() == 3));
        }
    }
}
