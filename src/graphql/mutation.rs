//! Mutation resolvers: the export.

use async_graphql::{Context, Object, Result};
use chrono::Utc;

use super::caller;
use super::query::user_and_range;
use super::types::{DateRangeInput, ExportFormat, ExportSection, UsageExport};
use crate::error::AppError;
use crate::export::{self, ExportRequest, SectionSet};
use crate::reports;

/// Changes and renders: the export of the signed-in user's usage.
#[derive(Debug, Default)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// Renders the signed-in user's usage over the range as a CSV or JSON file, with a link
    /// that downloads the same file for 5 minutes.
    async fn export_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "ExportFormat::Csv")] format: ExportFormat,
        #[graphql(default_with = "vec![ExportSection::All]")] include: Vec<ExportSection>,
        range: Option<DateRangeInput>,
    ) -> Result<UsageExport> {
        export_usage(ctx, format, include, range)
            .await
            .map_err(AppError::into_graphql)
    }
}

async fn export_usage(
    ctx: &Context<'_>,
    format: ExportFormat,
    include: Vec<ExportSection>,
    range: Option<DateRangeInput>,
) -> Result<UsageExport, AppError> {
    let sections = section_set(&include)?;
    let (services, user, range) = user_and_range(ctx, range).await?;
    let sub = caller(ctx)?.sub.clone();
    let request = ExportRequest {
        format: match format {
            ExportFormat::Csv => export::ExportFormat::Csv,
            ExportFormat::Json => export::ExportFormat::Json,
        },
        sections,
        range,
    };
    let now = Utc::now();
    let rendered = reports::render_export(services, user, &request, now).await?;
    let content = String::from_utf8(rendered.bytes).map_err(AppError::internal)?;
    Ok(UsageExport {
        filename: rendered.filename,
        content_type: rendered.content_type.to_owned(),
        byte_size: i32::try_from(content.len()).unwrap_or(i32::MAX),
        content,
        download_url: reports::download_url(services, &sub, &request, now),
    })
}

/// The sections of an `include` list; `ALL` anywhere means every section.
fn section_set(include: &[ExportSection]) -> Result<SectionSet, AppError> {
    if include.is_empty() {
        return Err(AppError::invalid(
            "include",
            "include must name at least one section",
        ));
    }
    let names: Vec<&str> = include
        .iter()
        .map(|section| match section {
            ExportSection::All => "all",
            ExportSection::Summary => "summary",
            ExportSection::Conversations => "conversations",
            ExportSection::Tools => "tools",
            ExportSection::Models => "models",
        })
        .collect();
    SectionSet::parse_list(&names.join(","))
        .map_err(|message| AppError::invalid("include", message))
}
