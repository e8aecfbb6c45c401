//! The price table: US dollars per million tokens of each kind, per model.
//!
//! Prices are held as nano-dollars per million tokens, so that the cost of a call,
//! `Σ tokens × price / 10^6`, is computed in integers and rounded once, half up, to a whole
//! nano-dollar. Every built-in price makes that division exact.

use std::collections::HashMap;
use std::path::Path;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::usage::Money;

/// Prices of one model in nano-dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPrice {
    pub input: i64,
    pub output: i64,
    pub cache_write: i64,
    pub cache_read: i64,
}

/// Token counts of one call, as the Anthropic `usage` object gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub input: i64,
    pub output: i64,
    pub cache_creation: i64,
    pub cache_read: i64,
}

impl TokenCounts {
    /// The four kinds added.
    pub fn total(&self) -> i64 {
        self.input + self.output + self.cache_creation + self.cache_read
    }
}

impl ModelPrice {
    /// Dollars per million tokens, written as in the published price list.
    const fn per_mtok(input: i64, output: i64, cache_write: i64, cache_read: i64) -> Self {
        // Arguments are in milli-dollars per million tokens.
        const MILLI: i64 = 1_000_000;
        ModelPrice {
            input: input * MILLI,
            output: output * MILLI,
            cache_write: cache_write * MILLI,
            cache_read: cache_read * MILLI,
        }
    }

    /// The cost of `tokens`, rounded half up to a whole nano-dollar.
    pub fn cost(&self, tokens: &TokenCounts) -> Money {
        let total: i128 = i128::from(tokens.input) * i128::from(self.input)
            + i128::from(tokens.output) * i128::from(self.output)
            + i128::from(tokens.cache_creation) * i128::from(self.cache_write)
            + i128::from(tokens.cache_read) * i128::from(self.cache_read);
        let nanos = (total + 500_000) / 1_000_000;
        Money::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }
}

/// Built-in prices (USD per million tokens; cache write is the 5-minute cache write price).
const BUILT_IN: &[(&str, ModelPrice)] = &[
    (
        "claude-opus-4-5",
        ModelPrice::per_mtok(5_000, 25_000, 6_250, 500),
    ),
    (
        "claude-opus-4-1",
        ModelPrice::per_mtok(15_000, 75_000, 18_750, 1_500),
    ),
    (
        "claude-opus-4",
        ModelPrice::per_mtok(15_000, 75_000, 18_750, 1_500),
    ),
    (
        "claude-sonnet-4-5",
        ModelPrice::per_mtok(3_000, 15_000, 3_750, 300),
    ),
    (
        "claude-sonnet-4",
        ModelPrice::per_mtok(3_000, 15_000, 3_750, 300),
    ),
    (
        "claude-3-7-sonnet",
        ModelPrice::per_mtok(3_000, 15_000, 3_750, 300),
    ),
    (
        "claude-3-5-sonnet",
        ModelPrice::per_mtok(3_000, 15_000, 3_750, 300),
    ),
    (
        "claude-haiku-4-5",
        ModelPrice::per_mtok(1_000, 5_000, 1_250, 100),
    ),
    (
        "claude-3-5-haiku",
        ModelPrice::per_mtok(800, 4_000, 1_000, 80),
    ),
    ("claude-3-haiku", ModelPrice::per_mtok(250, 1_250, 300, 30)),
    (
        "claude-3-opus",
        ModelPrice::per_mtok(15_000, 75_000, 18_750, 1_500),
    ),
];

/// Prices by model id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTable {
    prices: HashMap<String, ModelPrice>,
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::built_in()
    }
}

/// Why a pricing file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("cannot read pricing file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("malformed pricing file {path}: {message}")]
    Malformed { path: String, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PricingFile {
    models: HashMap<String, PriceEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceEntry {
    input: PriceValue,
    output: PriceValue,
    #[serde(default)]
    cache_write: Option<PriceValue>,
    #[serde(default)]
    cache_read: Option<PriceValue>,
}

/// A price written as a decimal string or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum PriceValue {
    Text(String),
    Integer(u64),
    Float(f64),
}

impl PriceValue {
    /// Nano-dollars per million tokens.
    fn nanos_per_mtok(&self) -> Result<i64, String> {
        let decimal = match self {
            PriceValue::Text(text) => Decimal::from_str_exact(text.trim())
                .map_err(|_| format!("\"{text}\" is not a decimal"))?,
            PriceValue::Integer(value) => Decimal::from(*value),
            // A number in a file has at most ~15 significant digits; its shortest form is exact.
            PriceValue::Float(value) => Decimal::from_str_exact(&value.to_string())
                .map_err(|_| format!("{value} is not a usable price"))?,
        };
        let money =
            Money::from_decimal(decimal).map_err(|error| format!("price {decimal} {error}"))?;
        Ok(money.nanos())
    }
}

impl PriceTable {
    /// The built-in prices of current Claude models.
    pub fn built_in() -> Self {
        PriceTable {
            prices: BUILT_IN
                .iter()
                .map(|(model, price)| ((*model).to_owned(), *price))
                .collect(),
        }
    }

    /// Reads a TOML (`.toml`) or JSON file of the form
    /// `{"models": {"claude-x": {"input": 3, "output": 15, "cache_write": 3.75, "cache_read": 0.3}}}`
    /// with prices in US dollars per million tokens; it replaces the built-in table.
    pub fn from_file(path: &Path) -> Result<Self, PricingError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PricingError::Read {
            path: display.clone(),
            source,
        })?;
        let malformed = |message: String| PricingError::Malformed {
            path: display.clone(),
            message: message.lines().next().unwrap_or_default().to_owned(),
        };
        let is_toml = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"));
        let file: PricingFile = if is_toml {
            toml::from_str(&text).map_err(|e| malformed(e.message().to_owned()))?
        } else {
            serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?
        };
        if file.models.is_empty() {
            return Err(malformed("it lists no models".to_owned()));
        }
        let mut prices = HashMap::with_capacity(file.models.len());
        for (model, entry) in file.models {
            let field = |value: Option<&PriceValue>, name: &str| -> Result<i64, PricingError> {
                value
                    .map(PriceValue::nanos_per_mtok)
                    .transpose()
                    .map(|nanos| nanos.unwrap_or(0))
                    .map_err(|message| malformed(format!("models.{model}.{name}: {message}")))
            };
            let price = ModelPrice {
                input: field(Some(&entry.input), "input")?,
                output: field(Some(&entry.output), "output")?,
                cache_write: field(entry.cache_write.as_ref(), "cache_write")?,
                cache_read: field(entry.cache_read.as_ref(), "cache_read")?,
            };
            prices.insert(model, price);
        }
        Ok(PriceTable { prices })
    }

    /// The price of `model`; a dated id (`claude-sonnet-4-5-20250929`) or a `-latest` alias
    /// takes its base model's price.
    pub fn price_of(&self, model: &str) -> Option<&ModelPrice> {
        self.prices
            .get(model)
            .or_else(|| self.prices.get(base_model(model)))
    }

    /// Model ids with a price, sorted.
    pub fn models(&self) -> Vec<&str> {
        let mut models: Vec<&str> = self.prices.keys().map(String::as_str).collect();
        models.sort_unstable();
        models
    }
}

/// Strips a trailing `-YYYYMMDD` date or `-latest` from a model id.
pub fn base_model(model: &str) -> &str {
    if let Some(base) = model.strip_suffix("-latest") {
        return base;
    }
    match model.rsplit_once('-') {
        Some((base, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => model,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: i64, output: i64, cache_creation: i64, cache_read: i64) -> TokenCounts {
        TokenCounts {
            input,
            output,
            cache_creation,
            cache_read,
        }
    }

    fn cost(model: &str, counts: TokenCounts) -> String {
        PriceTable::built_in()
            .price_of(model)
            .map(|price| price.cost(&counts).to_string())
            .unwrap_or_else(|| format!("no price for {model}"))
    }

    #[test]
    fn every_built_in_model_prices_all_four_kinds() {
        // One million tokens of each kind costs exactly the list price of that kind.
        let cases = [
            ("claude-opus-4-5", ["5", "25", "6.25", "0.5"]),
            ("claude-opus-4-1", ["15", "75", "18.75", "1.5"]),
            ("claude-opus-4", ["15", "75", "18.75", "1.5"]),
            ("claude-sonnet-4-5", ["3", "15", "3.75", "0.3"]),
            ("claude-sonnet-4", ["3", "15", "3.75", "0.3"]),
            ("claude-3-7-sonnet", ["3", "15", "3.75", "0.3"]),
            ("claude-3-5-sonnet", ["3", "15", "3.75", "0.3"]),
            ("claude-haiku-4-5", ["1", "5", "1.25", "0.1"]),
            ("claude-3-5-haiku", ["0.8", "4", "1", "0.08"]),
            ("claude-3-haiku", ["0.25", "1.25", "0.3", "0.03"]),
            ("claude-3-opus", ["15", "75", "18.75", "1.5"]),
        ];
        assert_eq!(cases.len(), BUILT_IN.len());
        for (model, [input, output, write, read]) in cases {
            assert_eq!(
                cost(model, tokens(1_000_000, 0, 0, 0)),
                input,
                "{model} input"
            );
            assert_eq!(
                cost(model, tokens(0, 1_000_000, 0, 0)),
                output,
                "{model} output"
            );
            assert_eq!(
                cost(model, tokens(0, 0, 1_000_000, 0)),
                write,
                "{model} cache write"
            );
            assert_eq!(
                cost(model, tokens(0, 0, 0, 1_000_000)),
                read,
                "{model} cache read"
            );
        }
    }

    #[test]
    fn a_typical_call_is_exact() {
        // 1200 × 3 + 350 × 15 + 800 × 0.3, per million: 0.00909 dollars.
        assert_eq!(
            cost("claude-sonnet-4-5", tokens(1200, 350, 0, 800)),
            "0.00909"
        );
        assert_eq!(cost("claude-3-haiku", tokens(1, 0, 0, 1)), "0.00000028");
    }

    #[test]
    fn dated_ids_take_the_base_price() {
        let table = PriceTable::built_in();
        assert_eq!(
            table.price_of("claude-sonnet-4-5-20250929"),
            table.price_of("claude-sonnet-4-5")
        );
        assert_eq!(
            table.price_of("claude-3-5-haiku-latest"),
            table.price_of("claude-3-5-haiku")
        );
        assert!(table.price_of("gpt-4o").is_none());
        assert!(table.price_of("claude-sonnet-4-5-2025").is_none());
    }

    #[test]
    fn reads_toml_and_json_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let toml_path = dir.path().join("prices.toml");
        std::fs::write(
            &toml_path,
            "[models.my-model]\ninput = \"2.5\"\noutput = 10\ncache_read = 0.25\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let table = PriceTable::from_file(&toml_path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(table.models(), vec!["my-model"]);
        let price = table.price_of("my-model-20250101").copied();
        assert_eq!(
            price
                .map(|p| p
                    .cost(&tokens(1_000_000, 1_000_000, 1_000_000, 1_000_000))
                    .to_string())
                .as_deref(),
            Some("12.75")
        );

        let json_path = dir.path().join("prices.json");
        std::fs::write(
            &json_path,
            r#"{"models": {"m": {"input": 1, "output": "2"}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(PriceTable::from_file(&json_path).is_ok());
    }

    #[test]
    fn refuses_malformed_files_with_one_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cases = [
            ("a.json", "{not json"),
            ("b.json", r#"{"models": {}}"#),
            ("c.json", r#"{"models": {"m": {"input": -1, "output": 1}}}"#),
            ("d.toml", "[models.m]\ninput = \"x\"\noutput = 1\n"),
            ("e.json", r#"{"models": {"m": {"input": 1}}}"#),
        ];
        for (name, text) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
            let error = PriceTable::from_file(&path)
                .map(|_| ())
                .map_err(|e| e.to_string());
            let message = error
                .err()
                .unwrap_or_else(|| panic!("{name} should be refused"));
            assert!(
                message.contains(name) && !message.contains('\n'),
                "{message}"
            );
        }
        let missing = PriceTable::from_file(&dir.path().join("missing.json")).map(|_| ());
        assert!(missing.is_err_and(|e| e.to_string().contains("cannot read pricing file")));
    }
}
