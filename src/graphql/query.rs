//! Query resolvers: read the arguments, call one domain query, map the result.

use async_graphql::{Context, ID, Object, Result};

use super::types::{
    Conversation, ConversationConnection, ConversationEdge, DateRangeInput, ModelUsage, PageInfo,
    ToolUsage, UsageSummary, Viewer,
};
use super::{caller, current_user, services};
use crate::app::{RangeNames, Services};
use crate::error::AppError;
use crate::usage::DateRange;
use crate::usage::cache::UserVersion;
use crate::usage::queries::ConversationCursor;

/// Names of the range's fields in GraphQL errors.
pub(crate) const GRAPHQL_RANGE: RangeNames = RangeNames {
    start: "range.start",
    end: "range.end",
    time_zone: "range.timeZone",
};

/// Resolves the signed-in user and the range argument.
pub(crate) async fn user_and_range<'a>(
    ctx: &'a Context<'_>,
    range: Option<DateRangeInput>,
) -> Result<(&'a Services, UserVersion, DateRange), AppError> {
    let services = services(ctx)?;
    let user = current_user(ctx).await?;
    let range = range.unwrap_or_default();
    let start = range
        .start
        .as_ref()
        .map(|d| d.checked(GRAPHQL_RANGE.start))
        .transpose()?;
    let end = range
        .end
        .as_ref()
        .map(|d| d.checked(GRAPHQL_RANGE.end))
        .transpose()?;
    let range = services.resolve_range(start, end, range.time_zone.as_deref(), &GRAPHQL_RANGE)?;
    Ok((services, user, range))
}

/// Reads of the signed-in user's usage. Every figure counts only that user's events.
#[derive(Debug, Default)]
pub struct Query;

#[Object]
impl Query {
    /// The signed-in user.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        async {
            let user = caller(ctx)?;
            current_user(ctx).await?;
            Ok(Viewer {
                id: ID(user.sub.clone()),
            })
        }
        .await
        .map_err(AppError::into_graphql)
    }

    /// Totals over the range with a zero-filled daily series.
    async fn usage_summary(
        &self,
        ctx: &Context<'_>,
        range: Option<DateRangeInput>,
    ) -> Result<UsageSummary> {
        async {
            let (services, user, range) = user_and_range(ctx, range).await?;
            let summary = services
                .figures
                .usage_summary(&services.db, user, &range)
                .await?;
            Ok(UsageSummary::from(summary.as_ref().clone()))
        }
        .await
        .map_err(AppError::into_graphql)
    }

    /// Conversations with calls in the range, by cost descending then id. `first` is 1 to 100;
    /// `after` is the `cursor` of an edge.
    #[graphql(complexity = "(first.unwrap_or(50).max(1) as usize) * child_complexity + 1")]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        range: Option<DateRangeInput>,
        #[graphql(default = 50)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ConversationConnection> {
        conversation_connection(ctx, range, first, after)
            .await
            .map_err(AppError::into_graphql)
    }

    /// Each tool's calls in the range, by estimated cost descending.
    async fn tool_usage(
        &self,
        ctx: &Context<'_>,
        range: Option<DateRangeInput>,
    ) -> Result<Vec<ToolUsage>> {
        async {
            let (services, user, range) = user_and_range(ctx, range).await?;
            let tools = services
                .figures
                .tool_usage(&services.db, user, &range)
                .await?;
            Ok(tools.iter().cloned().map(ToolUsage::from).collect())
        }
        .await
        .map_err(AppError::into_graphql)
    }

    /// Each model's calls in the range, by cost descending.
    async fn model_usage(
        &self,
        ctx: &Context<'_>,
        range: Option<DateRangeInput>,
    ) -> Result<Vec<ModelUsage>> {
        async {
            let (services, user, range) = user_and_range(ctx, range).await?;
            let models = services
                .figures
                .model_usage(&services.db, user, &range)
                .await?;
            Ok(models.iter().cloned().map(ModelUsage::from).collect())
        }
        .await
        .map_err(AppError::into_graphql)
    }
}

async fn conversation_connection(
    ctx: &Context<'_>,
    range: Option<DateRangeInput>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<ConversationConnection, AppError> {
    let first = first.unwrap_or(50);
    if !(1..=100).contains(&first) {
        return Err(AppError::invalid(
            "first",
            format!("first must be between 1 and 100 (got {first})"),
        ));
    }
    let after = match after.as_deref() {
        Some(text) => Some(
            ConversationCursor::decode(text)
                .ok_or_else(|| AppError::invalid("after", "after is not a cursor of this list"))?,
        ),
        None => None,
    };
    let (services, user, range) = user_and_range(ctx, range).await?;
    let page = services
        .figures
        .conversations(
            &services.db,
            user,
            &range,
            first.unsigned_abs().into(),
            after.as_ref(),
        )
        .await?;
    let edges: Vec<ConversationEdge> = page
        .items
        .iter()
        .map(|item| ConversationEdge {
            cursor: ConversationCursor::of(item).encode(),
            node: Conversation::from(item.clone()),
        })
        .collect();
    Ok(ConversationConnection {
        page_info: PageInfo {
            has_next_page: page.has_next_page,
            end_cursor: edges.last().map(|edge| edge.cursor.clone()),
        },
        edges,
        total_count: super::scalars::Long(page.total_count),
    })
}
