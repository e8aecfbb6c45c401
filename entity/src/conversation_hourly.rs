//! Calls, tokens and cost per user, hour and conversation, kept current at ingestion.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation_hourly")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket_start: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub conversation_id: i64,
    pub api_calls: i64,
    pub total_tokens: i64,
    pub cost_nanos: i64,
    pub first_at_micros: i64,
    pub last_at_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
