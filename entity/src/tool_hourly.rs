//! Tool calls per user, hour and tool name, kept current at ingestion.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tool_hourly")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket_start: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub calls: i64,
    /// Calls that reported an execution time.
    pub timed_calls: i64,
    pub execution_time_ms_sum: i64,
    pub successes: i64,
    pub cost_nanos: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
