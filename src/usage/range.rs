//! Date ranges: inclusive calendar days counted in an IANA time zone, and the UTC instants
//! that bound them. Strict parsing lives here so that no lenient date ever gets past the edge.

use chrono::{DateTime, Datelike, Days, NaiveDate, Offset, TimeZone as _, Utc};
use chrono_tz::Tz;

/// Seconds in a day.
const DAY_SECONDS: i64 = 86_400;

/// Which input of a range a problem is about; GraphQL and REST name them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeField {
    Start,
    End,
    TimeZone,
}

/// Why a range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RangeError {
    pub field: RangeField,
    pub message: String,
}

impl RangeError {
    fn new(field: RangeField, message: impl Into<String>) -> Self {
        RangeError {
            field,
            message: message.into(),
        }
    }
}

/// Parses a calendar date written exactly as `YYYY-MM-DD`.
///
/// chrono alone accepts `2024-2-9`, signed years and trailing spaces; this does not.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(format!("\"{text}\" is not a date in the form YYYY-MM-DD"));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|date| date.year() >= 1)
        .ok_or_else(|| format!("\"{text}\" is not a valid calendar date"))
}

/// Parses an IANA zone name such as `Europe/Paris` or `UTC`.
pub fn parse_time_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("\"{name}\" is not a known IANA time zone"))
}

/// An inclusive range of calendar days in a time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateRange {
    start: NaiveDate,
    end: NaiveDate,
    zone: Tz,
}

impl DateRange {
    /// Builds a range from optional bounds: `end` defaults to today in `zone`, `start` to 30
    /// days before `end`. Refuses `start` after `end` and ranges longer than `max_days`.
    pub fn resolve(
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
        zone: Tz,
        max_days: u32,
        now: DateTime<Utc>,
    ) -> Result<Self, RangeError> {
        let end = end.unwrap_or_else(|| now.with_timezone(&zone).date_naive());
        let start = match start {
            Some(start) => start,
            None => end
                .checked_sub_days(Days::new(30))
                .ok_or_else(|| RangeError::new(RangeField::End, "end is too early"))?,
        };
        if start > end {
            return Err(RangeError::new(
                RangeField::Start,
                format!("start ({start}) is after end ({end})"),
            ));
        }
        let days = (end - start).num_days() + 1;
        if days > i64::from(max_days) {
            return Err(RangeError::new(
                RangeField::End,
                format!("the range covers {days} days; at most {max_days} are allowed"),
            ));
        }
        if end.checked_add_days(Days::new(1)).is_none() {
            return Err(RangeError::new(RangeField::End, "end is too late"));
        }
        Ok(DateRange { start, end, zone })
    }

    pub fn start(&self) -> NaiveDate {
        self.start
    }

    pub fn end(&self) -> NaiveDate {
        self.end
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// Number of days in the range, both ends included.
    pub fn day_count(&self) -> usize {
        usize::try_from((self.end - self.start).num_days() + 1).unwrap_or(0)
    }

    /// The days of the range, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.start.iter_days().take(self.day_count())
    }

    /// The UTC instant (Unix seconds) at which each day of the range starts, followed by the
    /// instant at which the range ends: `day_count() + 1` strictly increasing values.
    pub fn day_starts(&self) -> Vec<i64> {
        self.start
            .iter_days()
            .take(self.day_count() + 1)
            .map(|day| local_midnight(self.zone, day).timestamp())
            .collect()
    }

    /// First instant of the range, in Unix seconds.
    pub fn start_instant(&self) -> i64 {
        local_midnight(self.zone, self.start).timestamp()
    }

    /// First instant after the range, in Unix seconds.
    pub fn end_instant(&self) -> i64 {
        let after = self.end.checked_add_days(Days::new(1)).unwrap_or(self.end);
        local_midnight(self.zone, after).timestamp()
    }

    /// The zone's UTC offsets over the range, as `(from, offset_seconds)` pieces sorted by
    /// `from` (Unix seconds); the first piece starts at the range's start. Used to map an
    /// instant `t` to its local day: `(t + offset) / 86400` is the local day number.
    pub fn offset_pieces(&self) -> Vec<(i64, i32)> {
        let starts = self.day_starts();
        let offset_at = |t: i64| offset_seconds(self.zone, t);
        let mut pieces = vec![(starts[0], offset_at(starts[0]))];
        for window in starts.windows(2) {
            let (mut low, high) = (window[0], window[1]);
            // Several changes inside one day are not known in any zone; find each by bisection.
            while offset_at(low) != offset_at(high - 1) {
                let current = offset_at(low);
                let (mut lo, mut hi) = (low, high - 1);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if offset_at(mid) == current {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                pieces.push((hi, offset_at(hi)));
                low = hi;
            }
        }
        pieces
    }

    /// The date of local day number `epoch_day` (days since 1970-01-01 in local time).
    pub fn date_of_local_day(epoch_day: i64) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(epoch_day))
    }

    /// Local day number (days since 1970-01-01 in local time) of `date`.
    pub fn local_day_number(date: NaiveDate) -> i64 {
        NaiveDate::from_ymd_opt(1970, 1, 1)
            .map(|epoch| (date - epoch).num_days())
            .unwrap_or(0)
    }
}

/// Offset of `zone` from UTC at Unix second `t`, in seconds.
fn offset_seconds(zone: Tz, t: i64) -> i32 {
    DateTime::from_timestamp(t, 0)
        .map(|instant| {
            zone.offset_from_utc_datetime(&instant.naive_utc())
                .fix()
                .local_minus_utc()
        })
        .unwrap_or(0)
}

/// The first instant of `day` in `zone`. A day whose midnight falls in a DST gap starts at the
/// first local minute that exists.
pub fn local_midnight(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    (0..=24 * 60)
        .find_map(|minute| {
            zone.from_local_datetime(&(midnight + chrono::Duration::minutes(minute)))
                .earliest()
        })
        .map(|local| local.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

/// Seconds per day, for callers that turn offsets into local days.
pub const fn seconds_per_day() -> i64 {
    DAY_SECONDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(text: &str) -> NaiveDate {
        parse_date(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn strict_dates() {
        assert!(parse_date("2024-02-29").is_ok());
        for bad in [
            "2023-02-29",
            "2024-2-9",
            "2024-02-9",
            " 2024-02-09",
            "2024-02-09 ",
            "+2024-02-09",
            "20240209",
            "2024/02/09",
            "0000-01-01",
            "2024-13-01",
            "2024-00-10",
            "",
        ] {
            assert!(parse_date(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn defaults_are_thirty_days_before_today() {
        let now = DateTime::parse_from_rfc3339("2025-03-10T23:30:00-07:00")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let range = DateRange::resolve(None, None, chrono_tz::America::Los_Angeles, 366, now)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(range.end(), date("2025-03-10"));
        assert_eq!(range.start(), date("2025-02-08"));
        assert_eq!(range.day_count(), 31);
    }

    #[test]
    fn refuses_reversed_and_long_ranges() {
        let now = Utc::now();
        let reversed = DateRange::resolve(
            Some(date("2025-02-01")),
            Some(date("2025-01-01")),
            Tz::UTC,
            366,
            now,
        );
        assert_eq!(reversed.map_err(|e| e.field), Err(RangeField::Start));
        let long = DateRange::resolve(
            Some(date("2024-01-01")),
            Some(date("2025-01-01")),
            Tz::UTC,
            366,
            now,
        );
        assert_eq!(long.map_err(|e| e.field), Err(RangeField::End));
        let longest = DateRange::resolve(
            Some(date("2024-01-01")),
            Some(date("2024-12-31")),
            Tz::UTC,
            366,
            now,
        );
        assert_eq!(longest.map(|r| r.day_count()), Ok(366));
    }

    #[test]
    fn dst_days_are_23_and_25_hours_long() {
        let range = DateRange::resolve(
            Some(date("2025-03-09")),
            Some(date("2025-03-09")),
            chrono_tz::America::Los_Angeles,
            366,
            Utc::now(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let starts = range.day_starts();
        assert_eq!(starts[1] - starts[0], 23 * 3600);
        let pieces = range.offset_pieces();
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].1, -8 * 3600);
        assert_eq!(pieces[1].1, -7 * 3600);
        // 2025-03-09 10:00 UTC is 03:00 PDT.
        assert_eq!(pieces[1].0, 1_741_514_400);
    }

    #[test]
    fn kolkata_days_start_at_half_past() {
        let range = DateRange::resolve(
            Some(date("2025-01-01")),
            Some(date("2025-01-01")),
            chrono_tz::Asia::Kolkata,
            366,
            Utc::now(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(range.start_instant() % 3600, 1800);
        assert_eq!(range.end_instant() - range.start_instant(), 86_400);
    }

    #[test]
    fn midnight_in_a_gap_starts_the_day_at_the_first_real_minute() {
        // Chile moved its clocks from 00:00 to 01:00 on 2024-09-08.
        let start = local_midnight(chrono_tz::America::Santiago, date("2024-09-08"));
        assert_eq!(start.to_rfc3339(), "2024-09-08T04:00:00+00:00");
    }

    proptest! {
        #[test]
        fn any_valid_date_round_trips(days in 0i64..2_900_000) {
            let day = NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or_default() + chrono::Duration::days(days);
            let text = day.format("%Y-%m-%d").to_string();
            prop_assert_eq!(parse_date(&text), Ok(day));
        }

        #[test]
        fn local_day_of_each_day_start_is_that_day(offset in 0u32..300, zone_index in 0usize..6) {
            let zones = [Tz::UTC, chrono_tz::America::Los_Angeles, chrono_tz::Asia::Kolkata,
                         chrono_tz::Asia::Kathmandu, chrono_tz::Australia::Lord_Howe, chrono_tz::Europe::London];
            let start = date("2024-01-01") + chrono::Duration::days(i64::from(offset));
            let range = DateRange::resolve(Some(start), Some(start + chrono::Duration::days(40)), zones[zone_index], 366, Utc::now())
                .unwrap_or_else(|e| panic!("{e}"));
            let pieces = range.offset_pieces();
            for (day, instant) in range.days().zip(range.day_starts()) {
                let offset = pieces.iter().rev().find(|(from, _)| *from <= instant).map(|p| p.1).unwrap_or(0);
                let local_day = (instant + i64::from(offset)).div_euclid(86_400);
                prop_assert_eq!(DateRange::date_of_local_day(local_day), Some(day));
            }
        }
    }
}
