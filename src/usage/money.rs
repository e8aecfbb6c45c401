//! Exact money: US dollars held as whole nano-dollars (10^-9 USD) in an `i64`.
//!
//! Every price in the table and every recorded cost is a whole number of nano-dollars, so sums
//! in SQL (`SUM` over `BIGINT`) are exact on every engine. Nothing here ever touches `f64`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

/// Nano-dollars in one dollar.
pub const NANOS_PER_USD: i64 = 1_000_000_000;

/// The largest cost a single event may carry: one million dollars.
pub const MAX_EVENT_COST: Money = Money(1_000_000 * NANOS_PER_USD);

/// An exact amount of US dollars, in nano-dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

/// Why a decimal string is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal number such as \"0.012345\"")]
    NotADecimal,
    #[error("must not be negative")]
    Negative,
    #[error("has more than 9 decimal places")]
    TooPrecise,
    #[error("is larger than 1000000")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_nanos(nanos: i64) -> Self {
        Money(nanos)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// Parses a non-negative decimal of at most 9 decimal places and at most `MAX_EVENT_COST`.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let text = text.trim();
        if text.is_empty()
            || !text
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
        {
            return Err(MoneyError::NotADecimal);
        }
        let decimal = Decimal::from_str_exact(text).map_err(|_| MoneyError::NotADecimal)?;
        Self::from_decimal(decimal)
    }

    /// Converts an exact decimal, refusing anything that is not a whole number of nano-dollars.
    pub fn from_decimal(decimal: Decimal) -> Result<Self, MoneyError> {
        if decimal.is_sign_negative() && !decimal.is_zero() {
            return Err(MoneyError::Negative);
        }
        let decimal = decimal.normalize();
        if decimal.scale() > 9 {
            return Err(MoneyError::TooPrecise);
        }
        if decimal > Money::MAX_DECIMAL {
            return Err(MoneyError::TooLarge);
        }
        let nanos = decimal * Decimal::from(NANOS_PER_USD);
        i64::try_from(nanos)
            .map(Money)
            .map_err(|_| MoneyError::TooLarge)
    }

    const MAX_DECIMAL: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

    /// The exact decimal value in dollars, without trailing zeros.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 9).normalize()
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// This amount divided by `count`, rounded half away from zero to a whole nano-dollar.
    pub fn per(self, count: i64) -> Money {
        if count <= 0 {
            return Money::ZERO;
        }
        let (q, r) = (self.0 / count, self.0 % count);
        Money(if r * 2 >= count { q + 1 } else { q })
    }

    /// Splits the amount into `parts` whole nano-dollar shares that add up to it exactly:
    /// the first `amount % parts` shares carry one nano-dollar more.
    pub fn split(self, parts: usize) -> impl Iterator<Item = Money> {
        let parts_i64 = i64::try_from(parts.max(1)).unwrap_or(i64::MAX);
        let base = self.0 / parts_i64;
        let remainder = usize::try_from(self.0 % parts_i64).unwrap_or(0);
        (0..parts).map(move |index| Money(base + i64::from(index < remainder)))
    }

    /// The fraction `self / total` as a float, for display only (0 when `total` is zero).
    pub fn fraction_of(self, total: Money) -> f64 {
        if total.0 == 0 {
            0.0
        } else {
            // Converting the exact ratio through Decimal keeps 28 significant digits.
            (Decimal::from(self.0) / Decimal::from(total.0))
                .try_into()
                .unwrap_or(0.0)
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_decimal(), f)
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Money::parse(text)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Self {
        Money(iter.map(|m| m.0).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(Money::parse("0.012345"), Ok(Money(12_345_000)));
        assert_eq!(Money::parse("1"), Ok(Money(NANOS_PER_USD)));
        assert_eq!(Money::parse("0.000000001"), Ok(Money(1)));
        assert_eq!(Money::parse("0.0000000010"), Ok(Money(1)));
        assert_eq!(Money::parse("1000000"), Ok(MAX_EVENT_COST));
    }

    #[test]
    fn refuses_what_is_not_money() {
        assert_eq!(Money::parse(""), Err(MoneyError::NotADecimal));
        assert_eq!(Money::parse("abc"), Err(MoneyError::NotADecimal));
        assert_eq!(Money::parse("1e-3"), Err(MoneyError::NotADecimal));
        assert_eq!(Money::parse("NaN"), Err(MoneyError::NotADecimal));
        assert_eq!(Money::parse("-0.5"), Err(MoneyError::Negative));
        assert_eq!(Money::parse("0.0000000001"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse("1000000.000000001"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn displays_without_trailing_zeros() {
        assert_eq!(Money(12_345_000).to_string(), "0.012345");
        assert_eq!(Money(0).to_string(), "0");
        assert_eq!(Money(123_450_000_000).to_string(), "123.45");
    }

    #[test]
    fn split_adds_up() {
        let shares: Vec<Money> = Money(10).split(3).collect();
        assert_eq!(shares, vec![Money(4), Money(3), Money(3)]);
    }

    #[test]
    fn per_rounds_half_up() {
        assert_eq!(Money(10).per(4), Money(3));
        assert_eq!(Money(9).per(4), Money(2));
        assert_eq!(Money(10).per(0), Money(0));
    }

    proptest! {
        #[test]
        fn display_round_trips(nanos in 0i64..=MAX_EVENT_COST.nanos()) {
            let money = Money(nanos);
            prop_assert_eq!(Money::parse(&money.to_string()), Ok(money));
        }

        #[test]
        fn split_is_exact(nanos in 0i64..1_000_000_000_000, parts in 1usize..50) {
            let shares: Vec<Money> = Money(nanos).split(parts).collect();
            prop_assert_eq!(shares.len(), parts);
            prop_assert_eq!(shares.iter().copied().sum::<Money>(), Money(nanos));
            let max = shares.iter().max().copied().unwrap_or_default();
            let min = shares.iter().min().copied().unwrap_or_default();
            prop_assert!(max.nanos() - min.nanos() <= 1);
        }
    }
}
