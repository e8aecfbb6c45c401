//! Integration tests over real HTTP on loopback and a real database (SQLite by default,
//! PostgreSQL when `TEST_DATABASE_URL` is set).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod cli;
mod exactness;
mod export;
mod graphql;
mod ingest;
mod operations;
