//! Database migrations for usage-api, run by `usage-api migrate`, at `serve` start-up, or by
//! this crate's own CLI (`cargo run -p migration -- up`).

pub use sea_orm_migration::prelude::*;

mod m20261203_000001_create_usage_tables;

/// Every migration, in the order it runs.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261203_000001_create_usage_tables::Migration)]
    }
}
