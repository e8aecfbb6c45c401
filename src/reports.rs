//! Exports: gathers the requested sections through the domain queries and renders them with
//! the one renderer that both the `exportUsage` mutation and the REST download use.

use chrono::{DateTime, Duration, Utc};

use crate::app::Services;
use crate::error::{AppError, AppResult};
use crate::export::link::query_string;
use crate::export::{
    self, ExportData, ExportRequest, ExportSection, MAX_EXPORT_CONVERSATIONS, RenderedExport,
};
use crate::usage::cache::UserVersion;

/// How long a signed download link stays valid.
pub const LINK_LIFETIME_SECONDS: i64 = 300;

/// Reads the data of every included section, concurrently.
pub async fn gather(
    services: &Services,
    user: UserVersion,
    request: &ExportRequest,
) -> AppResult<ExportData> {
    let (db, figures) = (&services.db, &services.figures);
    let range = &request.range;
    let sections = &request.sections;
    let summary = async {
        if sections.contains(ExportSection::Summary) {
            figures
                .usage_summary(db, user, range)
                .await
                .map(|s| Some(s.as_ref().clone()))
        } else {
            Ok(None)
        }
    };
    let conversations = async {
        if sections.contains(ExportSection::Conversations) {
            figures
                .conversations(db, user, range, MAX_EXPORT_CONVERSATIONS, None)
                .await
                .map(|page| Some(page.as_ref().clone()))
        } else {
            Ok(None)
        }
    };
    let tools = async {
        if sections.contains(ExportSection::Tools) {
            figures
                .tool_usage(db, user, range)
                .await
                .map(|t| Some(t.as_ref().clone()))
        } else {
            Ok(None)
        }
    };
    let models = async {
        if sections.contains(ExportSection::Models) {
            figures
                .model_usage(db, user, range)
                .await
                .map(|m| Some(m.as_ref().clone()))
        } else {
            Ok(None)
        }
    };
    let (summary, conversations, tools, models) =
        tokio::try_join!(summary, conversations, tools, models)?;
    Ok(ExportData {
        summary,
        conversations,
        tools,
        models,
    })
}

/// Renders the export of `user` for `request`, refusing it when larger than the limit.
pub async fn render_export(
    services: &Services,
    user: UserVersion,
    request: &ExportRequest,
    generated_at: DateTime<Utc>,
) -> AppResult<RenderedExport> {
    let data = gather(services, user, request).await?;
    export::render(
        request,
        &data,
        generated_at,
        services.settings.export_max_bytes,
    )
    .map_err(AppError::from)
}

/// The REST route for the same export with a signed token, valid for 5 minutes from `now`.
pub fn download_url(
    services: &Services,
    sub: &str,
    request: &ExportRequest,
    now: DateTime<Utc>,
) -> String {
    let token = services
        .links
        .sign(sub, request, now + Duration::seconds(LINK_LIFETIME_SECONDS));
    let path = format!("/api/usage/export?{}", query_string(request, Some(&token)));
    match &services.settings.public_url {
        Some(origin) => format!("{}{path}", origin.trim_end_matches('/')),
        None => path,
    }
}
