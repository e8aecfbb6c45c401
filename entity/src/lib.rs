//! SeaORM entities of usage-api's tables. Times are microseconds (`*_micros`) or seconds
//! (`bucket_start`) since the Unix epoch in UTC; money is nano-dollars (`cost_nanos`).

pub mod api_call;
pub mod conversation;
pub mod tool_call;
pub mod tool_hourly;
pub mod usage_hourly;
pub mod usage_quarter_hourly;
pub mod usage_user_hourly;
pub mod user;

pub mod prelude {
    pub use super::api_call::Entity as ApiCall;
    pub use super::conversation::Entity as Conversation;
    pub use super::tool_call::Entity as ToolCall;
    pub use super::tool_hourly::Entity as ToolHourly;
    pub use super::usage_hourly::Entity as UsageHourly;
    pub use super::usage_quarter_hourly::Entity as UsageQuarterHourly;
    pub use super::usage_user_hourly::Entity as UsageUserHourly;
    pub use super::user::Entity as User;
}
