//! usage-api: records LLM API usage events and serves each signed-in user typed analytics
//! (GraphQL) and downloadable exports (CSV, JSON) of their own usage.
//!
//! `main.rs` only parses the command line; everything is built here so that tests and the
//! benchmark reuse it.

pub mod app;
pub mod auth;
pub mod commands;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod export;
pub mod graphql;
pub mod ingest;
pub mod reports;
pub mod rest;
pub mod usage;
