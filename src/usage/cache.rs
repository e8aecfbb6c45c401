//! Figures already computed, kept per user and per *data version*: ingestion bumps a user's
//! version in the same transaction that stores their events, so a cached figure is served only
//! while no event of that user has been stored since, and answers stay exact. The version lives
//! in the database, so replicas sharing it never serve each other's stale figures.

use std::future::Future;
use std::sync::Arc;

use chrono::NaiveDate;
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use sea_orm::ConnectionTrait;

use super::queries::{self, ConversationCursor};
use super::{ConversationPage, DateRange, ModelUsage, ToolUsage, UsageSummary, UserId};
use crate::error::AppResult;

/// A user as of one data version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserVersion {
    pub id: UserId,
    pub data_version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Figure {
    Summary,
    Tools,
    Models,
    Conversations {
        first: u64,
        after: Option<(i64, String)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    user: UserVersion,
    start: NaiveDate,
    end: NaiveDate,
    zone: &'static str,
    figure: Figure,
}

#[derive(Debug, Clone)]
enum Figures {
    Summary(Arc<UsageSummary>),
    Tools(Arc<Vec<ToolUsage>>),
    Models(Arc<Vec<ModelUsage>>),
    Conversations(Arc<ConversationPage>),
}

/// Approximate bytes held by an entry.
#[derive(Debug, Clone, Copy)]
struct Size;

impl Weighter<Key, Figures> for Size {
    fn weight(&self, _key: &Key, figures: &Figures) -> u64 {
        let bytes = match figures {
            Figures::Summary(summary) => 256 + summary.daily.len() * 48,
            Figures::Tools(tools) => tools.iter().map(|t| 64 + t.name.len()).sum(),
            Figures::Models(models) => models.iter().map(|m| 96 + m.model.len()).sum(),
            Figures::Conversations(page) => page
                .items
                .iter()
                .map(|c| 96 + c.id.len() + c.title.as_ref().map_or(0, String::len))
                .sum(),
        };
        (bytes as u64).max(1)
    }
}

/// Bytes of figures kept at most, by default.
pub const DEFAULT_CAPACITY_BYTES: u64 = 32 * 1024 * 1024;

/// The cache of computed figures; with a capacity of zero it keeps nothing.
#[derive(Clone)]
pub struct FigureCache {
    entries: Option<Arc<Cache<Key, Figures, Size>>>,
}

impl std::fmt::Debug for FigureCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FigureCache")
            .field("entries", &self.entries.as_ref().map(|cache| cache.len()))
            .finish()
    }
}

impl Default for FigureCache {
    fn default() -> Self {
        FigureCache::with_capacity(DEFAULT_CAPACITY_BYTES)
    }
}

impl FigureCache {
    /// A cache of at most `bytes` (approximately); zero disables it.
    pub fn with_capacity(bytes: u64) -> Self {
        FigureCache {
            entries: (bytes > 0).then(|| Arc::new(Cache::with_weighter(4_096, bytes, Size))),
        }
    }

    /// The figures under `key`, computed by `compute` unless already known.
    async fn get_or_compute(
        &self,
        key: Key,
        compute: impl Future<Output = AppResult<Figures>>,
    ) -> AppResult<Figures> {
        match &self.entries {
            Some(cache) => cache.get_or_insert_async(&key, compute).await,
            None => compute.await,
        }
    }
}

fn key(user: UserVersion, range: &DateRange, figure: Figure) -> Key {
    Key {
        user,
        start: range.start(),
        end: range.end(),
        zone: range.zone().name(),
        figure,
    }
}

impl FigureCache {
    /// [`queries::usage_summary`], computed once per data version.
    pub async fn usage_summary(
        &self,
        db: &impl ConnectionTrait,
        user: UserVersion,
        range: &DateRange,
    ) -> AppResult<Arc<UsageSummary>> {
        let figures = self
            .get_or_compute(key(user, range, Figure::Summary), async {
                queries::usage_summary(db, user.id, range)
                    .await
                    .map(|s| Figures::Summary(Arc::new(s)))
            })
            .await?;
        match figures {
            Figures::Summary(summary) => Ok(summary),
            _ => Ok(Arc::new(queries::usage_summary(db, user.id, range).await?)),
        }
    }

    /// [`queries::tool_usage`], computed once per data version.
    pub async fn tool_usage(
        &self,
        db: &impl ConnectionTrait,
        user: UserVersion,
        range: &DateRange,
    ) -> AppResult<Arc<Vec<ToolUsage>>> {
        let figures = self
            .get_or_compute(key(user, range, Figure::Tools), async {
                queries::tool_usage(db, user.id, range)
                    .await
                    .map(|t| Figures::Tools(Arc::new(t)))
            })
            .await?;
        match figures {
            Figures::Tools(tools) => Ok(tools),
            _ => Ok(Arc::new(queries::tool_usage(db, user.id, range).await?)),
        }
    }

    /// [`queries::model_usage`], computed once per data version.
    pub async fn model_usage(
        &self,
        db: &impl ConnectionTrait,
        user: UserVersion,
        range: &DateRange,
    ) -> AppResult<Arc<Vec<ModelUsage>>> {
        let figures = self
            .get_or_compute(key(user, range, Figure::Models), async {
                queries::model_usage(db, user.id, range)
                    .await
                    .map(|m| Figures::Models(Arc::new(m)))
            })
            .await?;
        match figures {
            Figures::Models(models) => Ok(models),
            _ => Ok(Arc::new(queries::model_usage(db, user.id, range).await?)),
        }
    }

    /// [`queries::conversations`], computed once per data version.
    pub async fn conversations(
        &self,
        db: &impl ConnectionTrait,
        user: UserVersion,
        range: &DateRange,
        first: u64,
        after: Option<&ConversationCursor>,
    ) -> AppResult<Arc<ConversationPage>> {
        let figure = Figure::Conversations {
            first,
            after: after.map(|cursor| (cursor.cost.nanos(), cursor.id.clone())),
        };
        let figures = self
            .get_or_compute(key(user, range, figure), async {
                queries::conversations(db, user.id, range, first, after)
                    .await
                    .map(|p| Figures::Conversations(Arc::new(p)))
            })
            .await?;
        match figures {
            Figures::Conversations(page) => Ok(page),
            _ => Ok(Arc::new(
                queries::conversations(db, user.id, range, first, after).await?,
            )),
        }
    }
}
