//! The `castellan` binary's library: configuration, wiring of adapters into services, the HTTP
//! router with its cross-cutting layers, the operations endpoints and the CLI.
//!
//! This crate is composition only; rules live in `castellan-domain` and the protocol crates.

pub mod cli;
pub mod config;
pub mod dns;
pub mod error;
pub mod extract;
pub mod health;
pub mod http;
pub mod outbound;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;
