//! The subcommands: `serve`, `migrate`, `seed-demo`, `token`, `schema`.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use tokio::net::TcpListener;

use crate::app::{AppState, Services, Settings, router};
use crate::auth::{AuthConfig, Verifier, mint_dev_token};
use crate::config::{AuthArgs, Command, DatabaseArgs, SeedArgs, ServeArgs, TokenArgs};
use crate::demo::{self, DEMO_USER, DemoSpec};
use crate::export::link::LinkSigner;
use crate::ingest::PriceTable;
use crate::{db, graphql};

/// Runs one subcommand to completion.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(args) => migrate(args).await,
        Command::SeedDemo(args) => seed_demo(args).await,
        Command::Token(args) => token(args),
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
    }
}

async fn open_database(args: &DatabaseArgs) -> anyhow::Result<DatabaseConnection> {
    let db = db::connect(&args.database_url).await?;
    db::migrate(&db).await?;
    Ok(db)
}

async fn migrate(args: DatabaseArgs) -> anyhow::Result<()> {
    open_database(&args).await?;
    println!("migrations applied");
    Ok(())
}

fn load_prices(path: Option<&std::path::Path>) -> anyhow::Result<PriceTable> {
    match path {
        Some(path) => Ok(PriceTable::from_file(path)?),
        None => Ok(PriceTable::built_in()),
    }
}

async fn seed_demo(args: SeedArgs) -> anyhow::Result<()> {
    let prices = load_prices(args.pricing_file.as_deref())?;
    let db = open_database(&args.database).await?;
    let spec = DemoSpec {
        users: args.users,
        days: args.days,
        calls_per_day: args.calls_per_day,
        seed: args.seed,
        today: chrono::Utc::now().date_naive(),
    };
    let outcome = demo::seed(&db, &prices, &spec, true).await?;
    println!(
        "demo data written: {} events inserted, {} already present",
        outcome.inserted, outcome.duplicates
    );
    Ok(())
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let Some(secret) = args.dev_secret.filter(|s| !s.is_empty()) else {
        bail!("USAGE_API_DEV_SECRET is not set; dev tokens are signed with it");
    };
    println!("{}", mint_dev_token(&secret, &args.sub, args.ttl)?);
    Ok(())
}

fn random_secret() -> String {
    use rand::Rng as _;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn auth_config(args: &AuthArgs, dev_secret: Option<String>) -> AuthConfig {
    AuthConfig {
        public_key_pem: args.jwt_public_key.clone(),
        jwks_url: args.jwks_url.clone().filter(|url| !url.is_empty()),
        issuer: args.jwt_issuer.clone().filter(|s| !s.is_empty()),
        audience: args.jwt_audience.clone().filter(|s| !s.is_empty()),
        authorized_parties: args
            .jwt_authorized_parties
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect(),
        dev_secret,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let dev_secret = match args.auth.dev_secret.clone().filter(|s| !s.is_empty()) {
        Some(secret) => Some(secret),
        None if args.demo => Some(random_secret()),
        None => None,
    };
    let verifier = Verifier::from_config(&auth_config(&args.auth, dev_secret.clone()))?;
    if !verifier.has_any_key() {
        bail!(
            "no way to verify session tokens: set USAGE_API_JWT_PUBLIC_KEY, USAGE_API_JWKS_URL or USAGE_API_DEV_SECRET (or run with --demo)"
        );
    }
    let prices = load_prices(args.pricing_file.as_deref())?;
    if let Some(url) = &args.public_url {
        let parsed = url::Url::parse(url)
            .with_context(|| format!("USAGE_API_PUBLIC_URL \"{url}\" is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("USAGE_API_PUBLIC_URL must start with http:// or https://");
        }
    }
    let mut ingest_keys: Vec<String> = args
        .ingest_keys
        .iter()
        .filter(|k| !k.is_empty())
        .cloned()
        .collect();
    let demo_ingest_key =
        (args.demo && ingest_keys.is_empty()).then(|| format!("demo-{}", &random_secret()[..24]));
    ingest_keys.extend(demo_ingest_key.clone());
    let links = match args.link_secret.as_deref().filter(|s| !s.is_empty()) {
        Some(secret) => LinkSigner::new(secret.as_bytes()),
        None => LinkSigner::random(),
    };
    let db = open_database(&args.database).await?;

    let mut dev_token = None;
    if args.demo {
        let events = entity::api_call::Entity::find()
            .count(&db)
            .await
            .context("cannot count events")?;
        if events == 0 {
            let spec = DemoSpec {
                users: 3,
                days: 90,
                calls_per_day: 40,
                seed: 42,
                today: chrono::Utc::now().date_naive(),
            };
            let outcome = demo::seed(&db, &prices, &spec, true).await?;
            tracing::info!(events = outcome.inserted, "demo data written");
        }
        if let Some(secret) = &dev_secret {
            let _ = secret;
            dev_token = Some(verifier.mint_dev_token(DEMO_USER, Duration::from_secs(24 * 3600))?);
        }
    }

    let settings = Settings {
        ingest_keys,
        export_max_bytes: args.export_max_bytes,
        max_range_days: args.max_range_days,
        public_url: args
            .public_url
            .map(|url| url.trim_end_matches('/').to_owned()),
        cache_bytes: args.cache_bytes,
    };
    let services = Services::new(db, settings, verifier, prices, links);
    let state = AppState::new(services, dev_token.as_deref());
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener
        .local_addr()
        .context("cannot read the bound address")?;
    tracing::info!(%address, "listening");
    if let Some(token) = &dev_token {
        let base = format!("http://{address}");
        let mut banner = format!(
            "usage-api is running with demo data.\n\n  GraphiQL:   {base}/graphiql   (the dev token is already in its headers)\n  \
             Dev token:  {token}\n  Download:   curl -OJ -H 'Authorization: Bearer {token}' '{base}/api/usage/export?format=csv'\n"
        );
        if let Some(key) = &demo_ingest_key {
            banner.push_str(&format!("  Ingest key: {key}\n"));
        }
        banner.push('\n');
        // A closed stdout must not stop the server.
        let mut stdout = std::io::stdout();
        let _ = stdout
            .write_all(banner.as_bytes())
            .and_then(|()| stdout.flush());
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server error")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
