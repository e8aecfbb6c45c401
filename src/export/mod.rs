//! Usage exports: the CSV and JSON files a user downloads, rendered from figures the caller has
//! already read, and the signed links that let a browser fetch them.
//!
//! Everything here is pure: no database and no HTTP. The GraphQL mutation and the REST download
//! route both call [`render`], so for the same parameters they send the same bytes (for JSON,
//! apart from `export_info.generated_at`). The layouts are a published format (CONTRACT,
//! section 8); the snapshot tests guard them.

mod cells;
mod csv_layout;
mod json_layout;
pub mod link;

#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, Utc};

use crate::error::AppError;
use crate::usage::{ConversationPage, DateRange, ModelUsage, ToolUsage, UsageSummary};

pub use link::{LinkError, LinkSigner, query_string};

/// The most conversations an export lists (the top ones by cost); `total_count` says how many
/// there are in all.
pub const MAX_EXPORT_CONVERSATIONS: u64 = 1000;

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    /// Parses the REST `format` parameter: exactly `csv` or `json`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "csv" => Ok(ExportFormat::Csv),
            "json" => Ok(ExportFormat::Json),
            other => Err(format!(
                "unknown format \"{other}\"; expected \"csv\" or \"json\""
            )),
        }
    }

    /// The name used in the REST `format` parameter.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }

    /// The file name extension, without the dot.
    pub const fn extension(self) -> &'static str {
        self.as_str()
    }

    /// The `Content-Type` the file is served with.
    pub const fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One part of an export. The summary includes the daily breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportSection {
    Summary,
    Conversations,
    Tools,
    Models,
}

impl ExportSection {
    /// Every section, in the order the file lists them.
    pub const ALL: [ExportSection; 4] = [
        ExportSection::Summary,
        ExportSection::Conversations,
        ExportSection::Tools,
        ExportSection::Models,
    ];

    /// The name used in the REST `include` parameter.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExportSection::Summary => "summary",
            ExportSection::Conversations => "conversations",
            ExportSection::Tools => "tools",
            ExportSection::Models => "models",
        }
    }

    const fn bit(self) -> u8 {
        match self {
            ExportSection::Summary => 1,
            ExportSection::Conversations => 2,
            ExportSection::Tools => 4,
            ExportSection::Models => 8,
        }
    }
}

/// A non-empty set of sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SectionSet {
    bits: u8,
}

impl SectionSet {
    const ALL_BITS: u8 = 0b1111;

    /// All four sections.
    pub const fn all() -> Self {
        SectionSet {
            bits: Self::ALL_BITS,
        }
    }

    /// Just one section.
    pub const fn only(section: ExportSection) -> Self {
        SectionSet {
            bits: section.bit(),
        }
    }

    /// The set of the sections given; refuses an empty list.
    pub fn from_sections(
        sections: impl IntoIterator<Item = ExportSection>,
    ) -> Result<Self, String> {
        let bits = sections
            .into_iter()
            .fold(0, |bits, section| bits | section.bit());
        if bits == 0 {
            Err(Self::empty_message())
        } else {
            Ok(SectionSet { bits })
        }
    }

    /// Parses the REST `include` parameter: `all`, or section names (`summary`,
    /// `conversations`, `tools`, `models`) joined by commas, in any order. `all` anywhere in
    /// the list means every section. Names are lowercase; an empty list, an empty item or an
    /// unknown name is refused with a message that names it.
    pub fn parse_list(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err(Self::empty_message());
        }
        let mut bits = 0;
        for item in text.split(',') {
            bits |= match item {
                "all" => Self::ALL_BITS,
                _ => match ExportSection::ALL.iter().find(|s| s.as_str() == item) {
                    Some(section) => section.bit(),
                    None => {
                        return Err(format!(
                            "unknown section \"{item}\" in \"{text}\"; expected all, summary, \
                             conversations, tools or models, joined by commas"
                        ));
                    }
                },
            };
        }
        Ok(SectionSet { bits })
    }

    pub const fn contains(self, section: ExportSection) -> bool {
        self.bits & section.bit() != 0
    }

    /// The sections of the set, in file order.
    pub fn iter(self) -> impl Iterator<Item = ExportSection> {
        ExportSection::ALL
            .into_iter()
            .filter(move |section| self.contains(*section))
    }

    /// The canonical `include` parameter: `all` when all four are included, otherwise the names
    /// in file order joined by commas (`summary,tools`). Two lists naming the same sections give
    /// the same text.
    pub fn as_param(self) -> String {
        if self.bits == Self::ALL_BITS {
            return "all".to_owned();
        }
        self.iter()
            .map(ExportSection::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    fn empty_message() -> String {
        "include at least one section: all, summary, conversations, tools or models".to_owned()
    }
}

impl fmt::Display for SectionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_param())
    }
}

/// What to export: the parameters shared by the mutation and the REST route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    pub format: ExportFormat,
    pub sections: SectionSet,
    pub range: DateRange,
}

/// The figures an export shows, read by the caller for `ExportRequest::range`.
///
/// A field is `Some` exactly for the sections the request includes; a section is rendered
/// when it is included and its figures are present. `conversations` holds the top
/// [`MAX_EXPORT_CONVERSATIONS`] conversations by cost (more are cut off) and their
/// `total_count`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportData {
    pub summary: Option<UsageSummary>,
    pub conversations: Option<ConversationPage>,
    pub tools: Option<Vec<ToolUsage>>,
    pub models: Option<Vec<ModelUsage>>,
}

/// A complete export file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedExport {
    pub filename: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The rendered export is larger than the limit; nothing of it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the export would be {size_bytes} bytes, over the limit of {limit_bytes} bytes")]
pub struct ExportTooLarge {
    pub size_bytes: u64,
    pub limit_bytes: u64,
}

/// Why an export was not rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    TooLarge(#[from] ExportTooLarge),
    /// The encoder failed; writing into memory never does, so this is a bug, reported as one.
    #[error("encoding the export failed: {0}")]
    Encoding(String),
}

impl From<ExportError> for AppError {
    fn from(error: ExportError) -> Self {
        match error {
            ExportError::TooLarge(too_large) => too_large.into(),
            ExportError::Encoding(message) => AppError::internal(anyhow::anyhow!(message)),
        }
    }
}

impl From<ExportTooLarge> for AppError {
    fn from(error: ExportTooLarge) -> Self {
        AppError::ExportTooLarge {
            size_bytes: error.size_bytes,
            limit_bytes: error.limit_bytes,
        }
    }
}

/// The download's file name: `usage-export-2025-01-01-to-2025-01-31.csv` (or `.json`).
pub fn filename(request: &ExportRequest) -> String {
    format!(
        "usage-export-{}-to-{}.{}",
        cells::date(request.range.start()),
        cells::date(request.range.end()),
        request.format.extension()
    )
}

/// Renders the whole export in memory and checks its size.
///
/// CSV: RFC 4180 with CRLF line ends, UTF-8 without BOM, the sections of CONTRACT section 8 in
/// file order, each a title line, a header row and data rows, separated by one empty line.
/// JSON: UTF-8 without BOM, pretty-printed with two-space indents and a final newline (the file
/// is meant to be read by people as well as programs), money as exact JSON numbers.
/// `generated_at` appears in the JSON only, so CSV bytes depend on the figures alone.
///
/// A file of exactly `limit_bytes` bytes is returned; one byte more is [`ExportTooLarge`], and
/// no part of the file is returned.
pub fn render(
    request: &ExportRequest,
    data: &ExportData,
    generated_at: DateTime<Utc>,
    limit_bytes: u64,
) -> Result<RenderedExport, ExportError> {
    let bytes = match request.format {
        ExportFormat::Csv => csv_layout::render_csv(request, data)
            .map_err(|e| ExportError::Encoding(e.to_string()))?,
        ExportFormat::Json => json_layout::render_json(request, data, generated_at)
            .map_err(|e| ExportError::Encoding(e.to_string()))?,
    };
    let size_bytes = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size_bytes > limit_bytes {
        return Err(ExportTooLarge {
            size_bytes,
            limit_bytes,
        }
        .into());
    }
    Ok(RenderedExport {
        filename: filename(request),
        content_type: request.format.content_type(),
        bytes,
    })
}

/// The figures of `section`, when the request includes it.
fn included<'a, T>(
    request: &ExportRequest,
    section: ExportSection,
    figures: &'a Option<T>,
) -> Option<&'a T> {
    figures
        .as_ref()
        .filter(|_| request.sections.contains(section))
}
