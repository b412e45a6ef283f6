//! The `castellan` command line: serve, migrate, check configuration, print the API document.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use castellan_migration::Migrator;

use crate::config::Config;
use crate::server;

/// Exit code for a configuration that cannot be used.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code for any other failure.
pub const EXIT_FAILURE: u8 = 1;

/// Castellan: a self-hosted OpenID Connect identity provider.
#[derive(Debug, Parser)]
#[command(
    name = "castellan",
    version,
    about = "Castellan: a self-hosted OpenID Connect identity provider",
    propagate_version = true
)]
pub struct Cli {
    /// Configuration file to read instead of ./castellan.toml. Environment variables
    /// CASTELLAN_* (nested keys joined by `__`) override it.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "CASTELLAN_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server (migrating the database first unless database.run_migrations = false).
    Serve,
    /// Apply, roll back or list database migrations.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the OpenAPI document of the REST API.
    Openapi(OpenapiArgs),
    /// Inspect or rotate the token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage platform administrators.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Register and list OAuth / OpenID Connect clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
}

/// `castellan clients ...`.
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints its RFC 7591 document with `client_id` and `client_secret`.
    Create(CreateClientArgs),
    /// List the registered clients as JSON.
    List,
}

/// The new client, in RFC 7591 terms.
#[derive(Debug, Args)]
pub struct CreateClientArgs {
    /// `client_name`, shown on the consent page.
    #[arg(long)]
    pub name: String,
    /// A redirect URI (repeat for several).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// A post-logout redirect URI (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A grant type (repeat for several; default authorization_code).
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    /// Space-separated scopes the client may ask for.
    #[arg(long)]
    pub scope: Option<String>,
    /// client_secret_basic, client_secret_post, private_key_jwt or none (public client).
    #[arg(long = "auth-method")]
    pub auth_method: Option<String>,
    /// Castellan's own application: consent is not asked.
    #[arg(long)]
    pub first_party: bool,
    /// Require pushed authorization requests (RFC 9126).
    #[arg(long)]
    pub require_par: bool,
    /// A resource server that may introspect tokens issued to other clients.
    #[arg(long)]
    pub introspect_any_token: bool,
    /// Back-Channel Logout URI.
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    /// A complete RFC 7591 metadata document (JSON); the other flags are then ignored.
    #[arg(long, conflicts_with_all = ["redirect_uris", "grant_types", "scope", "auth_method"])]
    pub metadata: Option<String>,
}

impl CreateClientArgs {
    fn metadata(self) -> anyhow::Result<castellan_domain::ClientMetadata> {
        if let Some(document) = self.metadata {
            let mut value: serde_json::Value = serde_json::from_str(&document)?;
            if let Some(map) = value.as_object_mut() {
                map.entry("client_name")
                    .or_insert_with(|| self.name.clone().into());
            }
            return Ok(serde_json::from_value(value)?);
        }
        let mut metadata = castellan_domain::ClientMetadata::named(&self.name);
        metadata.redirect_uris = self.redirect_uris;
        metadata.post_logout_redirect_uris = self.post_logout_redirect_uris;
        if !self.grant_types.is_empty() {
            metadata.grant_types = self.grant_types;
        }
        if let Some(scope) = self.scope {
            metadata.scope = scope;
        }
        if let Some(method) = self.auth_method {
            metadata.token_endpoint_auth_method =
                serde_json::from_value(serde_json::Value::String(method.clone()))
                    .map_err(|_| anyhow::anyhow!("unknown --auth-method {method:?}"))?;
        }
        metadata.first_party = self.first_party;
        metadata.require_pushed_authorization_requests = self.require_par;
        metadata.introspect_any_token = self.introspect_any_token;
        metadata.backchannel_logout_uri = self.backchannel_logout_uri;
        Ok(metadata)
    }
}

/// `castellan keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the published keys (active, next, retired).
    List,
    /// Rotate now: next becomes active, active retires, a new next is generated.
    Rotate,
}

/// `castellan admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an administrator account (the first super admin, typically).
    Create(CreateAdminArgs),
}

/// The new administrator.
#[derive(Debug, Args)]
pub struct CreateAdminArgs {
    /// Email address.
    #[arg(long)]
    pub email: String,
    /// Password (or set CASTELLAN_ADMIN_PASSWORD to keep it out of the shell history).
    #[arg(long, env = "CASTELLAN_ADMIN_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// `super_admin` or `admin`.
    #[arg(long, default_value = "super_admin")]
    pub role: String,
    /// Given name.
    #[arg(long)]
    pub first_name: Option<String>,
    /// Family name.
    #[arg(long)]
    pub last_name: Option<String>,
}

/// `castellan migrate ...`.
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply pending migrations.
    Up(Steps),
    /// Roll back applied migrations (one unless --steps says more).
    Down(Steps),
    /// List every migration and whether it is applied.
    Status,
}

/// How many migrations to move over.
#[derive(Debug, Args)]
pub struct Steps {
    /// Number of migrations; all pending ones for `up` when omitted, one for `down`.
    #[arg(long)]
    pub steps: Option<u32>,
}

/// `castellan config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print it in effect, with secrets redacted.
    Check,
}

/// `castellan openapi`.
#[derive(Debug, Args)]
pub struct OpenapiArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OpenapiFormat::Yaml)]
    pub format: OpenapiFormat,
}

/// Formats of the OpenAPI document.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OpenapiFormat {
    /// YAML, as committed in openapi.yaml.
    Yaml,
    /// JSON, as served at /openapi.json.
    Json,
}

/// Runs the parsed command and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    if let Command::Openapi(args) = &cli.command {
        return print_openapi(args.format);
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let result = match cli.command {
        Command::Config(ConfigCommand::Check) => write_stdout(&format!(
            "# configuration is valid; secrets are redacted\n{}",
            config.to_redacted_toml()
        )),
        Command::Migrate(command) => {
            crate::telemetry::init(&config.log);
            migrate(&config, command).await
        }
        Command::Serve => {
            crate::telemetry::init(&config.log);
            serve(config).await
        }
        Command::Keys(command) => {
            crate::telemetry::init(&config.log);
            keys(config, command).await
        }
        Command::Admin(AdminCommand::Create(args)) => {
            crate::telemetry::init(&config.log);
            create_admin(config, args).await
        }
        Command::Clients(command) => {
            crate::telemetry::init(&config.log);
            clients(config, command).await
        }
        Command::Openapi(_) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// While no super admin exists, prints the one-time setup token for the operator (on standard
/// error, not in the structured logs).
async fn announce_setup_token(state: &crate::state::AppState) {
    match state.admin.issue_setup_token().await {
        Ok(Some(token)) => eprintln!(
            "\nNo super admin exists yet. Create one within 24 hours with:\n  \
             curl -X POST {}/api/v1/admin/bootstrap -H 'Content-Type: application/json' \\\n    \
             -d '{{\"setup_token\":\"{token}\",\"email\":\"admin@example.com\",\"password\":\"...\"}}'\n\
             or run `castellan admin create --email ... --password ...`.\n",
            state.config.issuer
        ),
        Ok(None) => {
            if let Ok(false) = state.admin.has_super_admin().await {
                tracing::warn!(
                    "no super admin exists; a setup token is already outstanding (printed by another replica or an earlier start), or use `castellan admin create`"
                );
            }
        }
        Err(error) => tracing::warn!(%error, "cannot issue a setup token"),
    }
}

fn print_openapi(format: OpenapiFormat) -> ExitCode {
    let document = crate::routes::openapi();
    let rendered = match format {
        OpenapiFormat::Yaml => document.to_yaml().map_err(|error| error.to_string()),
        OpenapiFormat::Json => document.to_pretty_json().map_err(|error| error.to_string()),
    };
    match rendered
        .map_err(anyhow::Error::msg)
        .and_then(|text| write_stdout(&text))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(())
}

async fn migrate(config: &Config, command: MigrateCommand) -> anyhow::Result<()> {
    let database = server::connect_database(config).await?;
    match command {
        MigrateCommand::Up(Steps { steps }) => {
            database.migrate_up::<Migrator>(steps).await?;
            write_stdout("migrations applied")?;
        }
        MigrateCommand::Down(Steps { steps }) => {
            database.migrate_down::<Migrator>(steps).await?;
            write_stdout("migrations rolled back")?;
        }
        MigrateCommand::Status => {
            let mut lines = String::new();
            for migration in database.migration_status::<Migrator>().await? {
                let state = if migration.applied {
                    "applied"
                } else {
                    "pending"
                };
                lines.push_str(&format!("{state:8} {}\n", migration.name));
            }
            write_stdout(&lines)?;
        }
    }
    database.close().await?;
    Ok(())
}

async fn keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let app = server::build(config).await?;
    let keys = &app.state.keys;
    if let KeysCommand::Rotate = command {
        let active = keys
            .rotate(&castellan_domain::RequestContext::default())
            .await?;
        write_stdout(&format!("rotated; active key is now {active}"))?;
    }
    let mut lines = String::new();
    for key in keys.summaries().await? {
        let activated = key
            .activated_at
            .map_or_else(|| "-".to_owned(), |at| at.to_rfc3339());
        let until = key
            .retire_after
            .map_or_else(|| "-".to_owned(), |at| at.to_rfc3339());
        lines.push_str(&format!(
            "{:5} {:8} {}  activated {activated}  published until {until}\n",
            key.algorithm,
            key.state.as_str(),
            key.kid
        ));
    }
    write_stdout(&lines)?;
    app.database.close().await?;
    Ok(())
}

async fn create_admin(config: Config, args: CreateAdminArgs) -> anyhow::Result<()> {
    let app = server::build(config).await?;
    let role = castellan_domain::PlatformRole::parse(&args.role)?;
    if !role.is_admin() {
        anyhow::bail!("--role must be super_admin or admin");
    }
    let new = castellan_domain::NewAccount {
        email: args.email,
        password: castellan_domain::Password::new(args.password),
        first_name: args.first_name,
        last_name: args.last_name,
    };
    let context = castellan_domain::RequestContext {
        ip: None,
        user_agent: Some("castellan-cli".to_owned()),
        device: None,
    };
    let user = app
        .state
        .registration
        .create_account(new, role, None, &context)
        .await?;
    write_stdout(&format!(
        "created {} {} ({})",
        role.as_str(),
        user.email,
        user.id
    ))?;
    app.database.close().await?;
    Ok(())
}

async fn clients(config: Config, command: ClientsCommand) -> anyhow::Result<()> {
    let app = server::build(config).await?;
    let state = &app.state;
    let document = match command {
        ClientsCommand::Create(args) => {
            let context = castellan_domain::RequestContext {
                ip: None,
                user_agent: Some("castellan-cli".to_owned()),
                device: None,
            };
            let issued = state
                .clients
                .register(args.metadata()?, false, None, &context)
                .await?;
            crate::routes::oauth2::client_document(state, &issued)
        }
        ClientsCommand::List => {
            let clients: Vec<serde_json::Value> = state
                .clients
                .list()
                .await?
                .into_iter()
                .map(|client| crate::routes::oauth2::stored_client_document(state, client))
                .collect();
            serde_json::Value::Array(clients)
        }
    };
    write_stdout(&serde_json::to_string_pretty(&document)?)?;
    app.database.close().await?;
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.server.bind;
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let issuer = config.issuer.clone();
    let app = server::build(config).await?;
    let listener = server::bind(bind).await?;
    let address = listener.local_addr().unwrap_or(bind);
    tracing::info!(
        %address,
        %issuer,
        "Castellan is listening on {address}; health at {issuer}/health, API docs at {issuer}/docs"
    );
    announce_setup_token(&app.state).await;
    let background = server::spawn_background(&app.state);
    let router = server::router(app.state);
    server::serve(listener, router, server::shutdown_signal(), grace).await?;
    background.abort();
    app.database.close().await?;
    tracing::info!("stopped");
    Ok(())
}
