//! usage-api: records LLM API usage events and serves each signed-in user typed analytics
//! (GraphQL) and downloadable exports (CSV, JSON) of their own usage.
//!
//! `main.rs` only parses the command line; everything is built here so that tests and the
//! benchmark reuse it.

pub mod auth;
pub mod config;
pub mod error;
pub mod export;
pub mod usage;
pub mod db;
pub mod app;
pub mod graphql;
pub mod ingest;
pub mod rest;
pub mod reports;
pub mod demo;
pub mod commands;
