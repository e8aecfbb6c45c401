//! One tool call made during an API call, with its share of that call's cost.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tool_calls")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub api_call_id: i64,
    pub user_id: i64,
    pub name: String,
    pub execution_time_ms: Option<i64>,
    pub success: bool,
    pub cost_nanos: i64,
    pub occurred_at_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
