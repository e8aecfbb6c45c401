//! Timings and the markdown report: every figure with its target and whether it was met.

use std::fmt::Write as _;
use std::time::Duration;

/// Timings of repeated runs of one request.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<Duration>);

impl Samples {
    fn sorted(&self) -> Vec<Duration> {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        sorted
    }

    pub fn median(&self) -> Duration {
        let sorted = self.sorted();
        match sorted.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
        }
    }

    /// Nearest-rank percentile.
    pub fn percentile(&self, p: f64) -> Duration {
        let sorted = self.sorted();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    pub fn min(&self) -> Duration {
        self.0.iter().min().copied().unwrap_or_default()
    }

    pub fn max(&self) -> Duration {
        self.0.iter().max().copied().unwrap_or_default()
    }
}

/// Milliseconds with a precision that suits the size.
pub fn ms(duration: Duration) -> String {
    let value = duration.as_secs_f64() * 1e3;
    if value < 10.0 {
        format!("{value:.2} ms")
    } else if value < 1_000.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.0} ms")
    }
}

/// An integer with thousands separators.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    NotMeasured,
}

impl Verdict {
    pub fn of(met: bool) -> Verdict {
        if met { Verdict::Met } else { Verdict::Missed }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "**missed**",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One line of the targets table.
#[derive(Debug, Clone)]
pub struct Row {
    pub figure: String,
    pub value: String,
    pub target: String,
    pub verdict: Verdict,
}

/// A markdown document under construction.
#[derive(Debug, Default)]
pub struct Report {
    pub text: String,
}

impl Report {
    pub fn heading(&mut self, title: &str) {
        let _ = write!(self.text, "\n### {title}\n\n");
    }

    pub fn line(&mut self, text: &str) {
        self.text.push_str(text);
        self.text.push('\n');
    }

    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let _ = writeln!(self.text, "| {} |", header.join(" | "));
        let _ = writeln!(
            self.text,
            "|{}",
            header.iter().map(|_| "---|").collect::<String>()
        );
        for row in rows {
            let _ = writeln!(self.text, "| {} |", row.join(" | "));
        }
    }

    pub fn targets(&mut self, rows: &[Row]) {
        let lines: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                vec![
                    row.figure.clone(),
                    row.value.clone(),
                    row.target.clone(),
                    row.verdict.label().to_owned(),
                ]
            })
            .collect();
        self.table(&["figure", "measured", "target", "result"], &lines);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        let samples = Samples([5, 1, 3, 2, 4].map(Duration::from_millis).to_vec());
        assert_eq!(samples.median(), Duration::from_millis(3));
        assert_eq!(samples.percentile(90.0), Duration::from_millis(5));
        assert_eq!(samples.percentile(20.0), Duration::from_millis(1));
        let even = Samples([4, 1, 3, 2].map(Duration::from_millis).to_vec());
        assert_eq!(even.median(), Duration::from_micros(2_500));
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(100), "100");
        assert_eq!(ms(Duration::from_micros(1_234)), "1.23 ms");
        assert_eq!(ms(Duration::from_millis(25)), "25.0 ms");
    }
}
