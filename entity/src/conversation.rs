//! A conversation of one user; its title is the one carried by its latest titled event.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// The caller's `conversation_id`.
    pub external_id: String,
    pub title: Option<String>,
    /// When the event that carried `title` occurred.
    pub title_at_micros: Option<i64>,
    /// Calls of the conversation, all time.
    pub api_calls: i64,
    pub total_tokens: i64,
    pub cost_nanos: i64,
    /// First and last call of the conversation (null until it has one).
    pub first_at_micros: Option<i64>,
    pub last_at_micros: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
