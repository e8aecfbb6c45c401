//! REST routes: event ingestion (service to service) and the export download.

pub mod export;
pub mod ingest;
