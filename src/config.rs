//! Command line and environment configuration (clap; every flag also reads its env var).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "usage-api",
    version,
    about = "Records LLM API usage and serves per-user analytics and exports"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations, then serve HTTP until SIGINT or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Run migrations and exit.
    Migrate(DatabaseArgs),
    /// Write deterministic demo data through the ingestion code path.
    SeedDemo(SeedArgs),
    /// Print an HS256 dev token signed with USAGE_API_DEV_SECRET.
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL) the server serves.
    Schema,
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// SQLite (embedded default) or PostgreSQL URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://usage.db?mode=rwc"
    )]
    pub database_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Path to a PEM public key (RSA for RS256, EC P-256 for ES256).
    #[arg(long, env = "USAGE_API_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// JWKS endpoint; keys are picked by `kid` and cached.
    #[arg(long, env = "USAGE_API_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// When set, `iss` must equal it.
    #[arg(long, env = "USAGE_API_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// When set, `aud` must contain it.
    #[arg(long, env = "USAGE_API_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Comma list; when set, an `azp` claim must be one of them.
    #[arg(long, env = "USAGE_API_JWT_AUTHORIZED_PARTIES", value_delimiter = ',')]
    pub jwt_authorized_parties: Vec<String>,
    /// Enables HS256 dev tokens signed with this secret.
    #[arg(long, env = "USAGE_API_DEV_SECRET", hide_env_values = true)]
    pub dev_secret: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to bind; port 0 picks a free port.
    #[arg(long, env = "USAGE_API_LISTEN", default_value = "127.0.0.1:4321")]
    pub listen: SocketAddr,
    /// Fill an empty database with demo data and print a ready dev token.
    #[arg(long)]
    pub demo: bool,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Comma list of service keys allowed to call the ingest route.
    #[arg(
        long,
        env = "USAGE_API_INGEST_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub ingest_keys: Vec<String>,
    /// Export size limit in bytes.
    #[arg(long, env = "USAGE_API_EXPORT_MAX_BYTES", default_value_t = 10_485_760)]
    pub export_max_bytes: u64,
    /// Longest date range accepted, in days, both ends included.
    #[arg(long, env = "USAGE_API_MAX_RANGE_DAYS", default_value_t = 366, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_range_days: u32,
    /// TOML or JSON price table that replaces the built-in one.
    #[arg(long, env = "USAGE_API_PRICING_FILE")]
    pub pricing_file: Option<PathBuf>,
    /// Memory for figures already computed (per user and data version), in bytes; 0 disables.
    #[arg(long, env = "USAGE_API_CACHE_BYTES", default_value_t = crate::usage::cache::DEFAULT_CAPACITY_BYTES)]
    pub cache_bytes: u64,
    /// Origin the service is reached at; makes `downloadUrl` absolute.
    #[arg(long, env = "USAGE_API_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// HMAC secret for download links; random at start when unset.
    #[arg(long, env = "USAGE_API_LINK_SECRET", hide_env_values = true)]
    pub link_secret: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Number of demo users.
    #[arg(long, default_value_t = 3)]
    pub users: u32,
    /// Days of history, ending today.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// API calls per user and day (on average).
    #[arg(long, default_value_t = 40)]
    pub calls_per_day: u32,
    /// Random seed; the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// TOML or JSON price table that replaces the built-in one.
    #[arg(long, env = "USAGE_API_PRICING_FILE")]
    pub pricing_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The user id (`sub` claim).
    #[arg(long)]
    pub sub: String,
    /// Lifetime, e.g. `1h`, `30m`, `7d`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: std::time::Duration,
    /// Secret the token is signed with.
    #[arg(long, env = "USAGE_API_DEV_SECRET", hide_env_values = true)]
    pub dev_secret: Option<String>,
}
