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
    let router = server::router(app.state);
    server::serve(listener, router, server::shutdown_signal(), grace).await?;
    app.database.close().await?;
    tracing::info!("stopped");
    Ok(())
}
