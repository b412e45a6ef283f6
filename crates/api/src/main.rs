//! The `castellan` executable.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    castellan_api::cli::run(castellan_api::cli::Cli::parse()).await
}
