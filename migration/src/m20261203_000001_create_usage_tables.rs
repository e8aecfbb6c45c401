//! Creates the event tables (users, conversations, API calls, tool calls) and the aggregates
//! that ingestion keeps current in the same transaction: per-hour and per-quarter-hour usage
//! tables, per-hour tool usage, and each conversation's totals on its own row.
//!
//! Times are integers: `*_micros` columns hold microseconds since the Unix epoch (UTC) and
//! `bucket_start` holds the Unix second at which an hour (or quarter hour) starts. Integer
//! arithmetic on them is identical on SQLite and PostgreSQL, which is what lets a query map an
//! instant to a local calendar day exactly. Money is `BIGINT` nano-dollars (10^-9 USD).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    ExternalId,
    DataVersion,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    UserId,
    ExternalId,
    Title,
    TitleAtMicros,
    ApiCalls,
    TotalTokens,
    CostNanos,
    FirstAtMicros,
    LastAtMicros,
}

#[derive(DeriveIden)]
enum ApiCalls {
    Table,
    Id,
    UserId,
    EventId,
    ConversationId,
    Model,
    InputTokens,
    OutputTokens,
    CacheCreationInputTokens,
    CacheReadInputTokens,
    CostNanos,
    OccurredAtMicros,
    ToolCallCount,
}

#[derive(DeriveIden)]
enum ToolCalls {
    Table,
    Id,
    ApiCallId,
    UserId,
    Name,
    ExecutionTimeMs,
    Success,
    CostNanos,
    OccurredAtMicros,
}

#[derive(DeriveIden)]
enum UsageHourly {
    Table,
    UserId,
    BucketStart,
    Model,
}

#[derive(DeriveIden, Clone, Copy)]
enum UsageUserHourly {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum UsageQuarterHourly {
    Table,
}

#[derive(DeriveIden)]
enum ToolHourly {
    Table,
    UserId,
    BucketStart,
    Name,
    Calls,
    TimedCalls,
    ExecutionTimeMsSum,
    Successes,
    CostNanos,
}

/// Columns every usage aggregate carries: calls, the four token kinds and their cost.
fn usage_columns(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    for column in [
        "api_calls",
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "cost_nanos",
    ] {
        table.col(ColumnDef::new(Alias::new(column)).big_integer().not_null());
    }
    table
}

/// Identifiers compare byte by byte: on PostgreSQL a locale collation makes every comparison of
/// the unique indexes (and so every insert) several times slower, and orders ids differently
/// from SQLite. SQLite compares bytes already.
fn bytewise(manager: &SchemaManager<'_>, mut column: ColumnDef) -> ColumnDef {
    if manager.get_database_backend() == DatabaseBackend::Postgres {
        column.extra("COLLATE \"C\"");
    }
    column
}

/// A usage table keyed by user and bucket start, without other dimensions.
fn per_user_buckets(table: impl IntoIden + Copy) -> TableCreateStatement {
    let mut statement = Table::create();
    statement
        .table(table)
        .col(
            ColumnDef::new(Alias::new("user_id"))
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("bucket_start"))
                .big_integer()
                .not_null(),
        );
    usage_columns(&mut statement).primary_key(
        Index::create()
            .col(Alias::new("user_id"))
            .col(Alias::new("bucket_start")),
    );
    statement.to_owned()
}

/// Creates an aggregate table; on SQLite as `WITHOUT ROWID`, so that the primary key
/// (user, bucket, …) is the table's own order and a range read touches one B-tree.
async fn create_aggregate(
    manager: &SchemaManager<'_>,
    table: TableCreateStatement,
) -> Result<(), DbErr> {
    if manager.get_database_backend() == DatabaseBackend::Sqlite {
        let sql = format!("{} WITHOUT ROWID", table.to_string(SqliteQueryBuilder));
        manager
            .get_connection()
            .execute_unprepared(&sql)
            .await
            .map(|_| ())
    } else {
        manager.create_table(table).await
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(
                        ColumnDef::new(Users::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        bytewise(manager, ColumnDef::new(Users::ExternalId))
                            .string_len(255)
                            .not_null()
                            .unique_key(),
                    )
                    // Bumped by every ingest that stores events of the user: cached figures
                    // of an older version are never served.
                    .col(
                        ColumnDef::new(Users::DataVersion)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Conversations::Table)
                    .col(
                        ColumnDef::new(Conversations::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Conversations::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        bytewise(manager, ColumnDef::new(Conversations::ExternalId))
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Conversations::Title).text().null())
                    .col(
                        ColumnDef::new(Conversations::TitleAtMicros)
                            .big_integer()
                            .null(),
                    )
                    // Totals over all the conversation's calls, kept current at ingestion: a
                    // conversation whose first and last call lie inside a range needs no other row.
                    .col(
                        ColumnDef::new(Conversations::ApiCalls)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Conversations::TotalTokens)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Conversations::CostNanos)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Conversations::FirstAtMicros)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Conversations::LastAtMicros)
                            .big_integer()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Conversations::Table, Conversations::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .index(
                        Index::create()
                            .name("ux_conversations_user_external")
                            .col(Conversations::UserId)
                            .col(Conversations::ExternalId)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiCalls::Table)
                    .col(
                        ColumnDef::new(ApiCalls::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ApiCalls::UserId).big_integer().not_null())
                    .col(
                        bytewise(manager, ColumnDef::new(ApiCalls::EventId))
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApiCalls::ConversationId)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(ApiCalls::Model).string_len(200).not_null())
                    .col(
                        ColumnDef::new(ApiCalls::InputTokens)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApiCalls::OutputTokens)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApiCalls::CacheCreationInputTokens)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApiCalls::CacheReadInputTokens)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ApiCalls::CostNanos).big_integer().not_null())
                    .col(
                        ColumnDef::new(ApiCalls::OccurredAtMicros)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ApiCalls::ToolCallCount).integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiCalls::Table, ApiCalls::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiCalls::Table, ApiCalls::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .index(
                        Index::create()
                            .name("ux_api_calls_user_event")
                            .col(ApiCalls::UserId)
                            .col(ApiCalls::EventId)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_api_calls_user_time")
                    .table(ApiCalls::Table)
                    .col(ApiCalls::UserId)
                    .col(ApiCalls::OccurredAtMicros)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_api_calls_conversation_time")
                    .table(ApiCalls::Table)
                    .col(ApiCalls::ConversationId)
                    .col(ApiCalls::OccurredAtMicros)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_conversations_user_last")
                    .table(Conversations::Table)
                    .col(Conversations::UserId)
                    .col(Conversations::LastAtMicros)
                    .col(Conversations::FirstAtMicros)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ToolCalls::Table)
                    .col(
                        ColumnDef::new(ToolCalls::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ToolCalls::ApiCallId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ToolCalls::UserId).big_integer().not_null())
                    .col(ColumnDef::new(ToolCalls::Name).string_len(200).not_null())
                    .col(
                        ColumnDef::new(ToolCalls::ExecutionTimeMs)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(ToolCalls::Success).boolean().not_null())
                    .col(
                        ColumnDef::new(ToolCalls::CostNanos)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ToolCalls::OccurredAtMicros)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ToolCalls::Table, ToolCalls::ApiCallId)
                            .to(ApiCalls::Table, ApiCalls::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tool_calls_user_time")
                    .table(ToolCalls::Table)
                    .col(ToolCalls::UserId)
                    .col(ToolCalls::OccurredAtMicros)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tool_calls_api_call")
                    .table(ToolCalls::Table)
                    .col(ToolCalls::ApiCallId)
                    .to_owned(),
            )
            .await?;

        // Per user, hour and model: totals, the model breakdown.
        let mut usage_hourly = Table::create();
        usage_hourly
            .table(UsageHourly::Table)
            .col(ColumnDef::new(UsageHourly::UserId).big_integer().not_null())
            .col(
                ColumnDef::new(UsageHourly::BucketStart)
                    .big_integer()
                    .not_null(),
            )
            .col(
                ColumnDef::new(UsageHourly::Model)
                    .string_len(200)
                    .not_null(),
            );
        usage_columns(&mut usage_hourly).primary_key(
            Index::create()
                .col(UsageHourly::UserId)
                .col(UsageHourly::BucketStart)
                .col(UsageHourly::Model),
        );
        create_aggregate(manager, usage_hourly.to_owned()).await?;

        // Per user and hour: totals and the daily series in zones whose days start on the hour.
        create_aggregate(manager, per_user_buckets(UsageUserHourly::Table)).await?;
        // Per user and quarter hour: the daily series in any zone whose offset is a multiple of
        // 15 minutes (all of today's zones).
        create_aggregate(manager, per_user_buckets(UsageQuarterHourly::Table)).await?;

        // Per user, hour and tool name: the tool breakdown.
        create_aggregate(
            manager,
            Table::create()
                .table(ToolHourly::Table)
                .col(ColumnDef::new(ToolHourly::UserId).big_integer().not_null())
                .col(
                    ColumnDef::new(ToolHourly::BucketStart)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(ToolHourly::Name).string_len(200).not_null())
                .col(ColumnDef::new(ToolHourly::Calls).big_integer().not_null())
                .col(
                    ColumnDef::new(ToolHourly::TimedCalls)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ToolHourly::ExecutionTimeMsSum)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ToolHourly::Successes)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ToolHourly::CostNanos)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(ToolHourly::UserId)
                        .col(ToolHourly::BucketStart)
                        .col(ToolHourly::Name),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "tool_hourly",
            "usage_quarter_hourly",
            "usage_user_hourly",
            "usage_hourly",
            "tool_calls",
            "api_calls",
            "conversations",
            "users",
        ] {
            manager
                .drop_table(
                    Table::drop()
                        .table(Alias::new(table))
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
