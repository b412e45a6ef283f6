//! DESIGN.md's dependency arrows, checked against `cargo metadata`: which workspace crate may
//! depend on which, and that the domain pulls in no framework, database or cache client, even
//! transitively. Only normal (non-dev) dependencies count.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

const PROTOCOL_AND_ADAPTERS: &[&str] = &[
    "castellan-oidc",
    "castellan-sso",
    "castellan-mfa",
    "castellan-passkeys",
    "castellan-scim",
    "castellan-webhooks",
    "castellan-mail",
    "castellan-persistence",
];
const FORBIDDEN_IN_DOMAIN: &[&str] = &[
    "sea-orm",
    "sea-query",
    "sqlx",
    "axum",
    "hyper",
    "tower",
    "redis",
    "lettre",
    "reqwest",
];

fn allowed(from: &str) -> BTreeSet<&'static str> {
    match from {
        "castellan-api" => PROTOCOL_AND_ADAPTERS
            .iter()
            .copied()
            .chain(["castellan-migration", "castellan-domain"])
            .collect(),
        _ if PROTOCOL_AND_ADAPTERS.contains(&from) => ["castellan-domain"].into(),
        _ => BTreeSet::new(),
    }
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // Only this platform's dependencies: the others need not be downloaded to be judged.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc).arg("-vV").output().unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    let host = version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .unwrap()
        .to_owned();
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--offline",
            "--filter-platform",
            &host,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Package id → (name, normal dependency ids).
fn graph(metadata: &Value) -> HashMap<String, (String, Vec<String>)> {
    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            let id = node["id"].as_str().unwrap().to_owned();
            let deps = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dep| {
                    dep["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|kind| kind["kind"].is_null())
                })
                .map(|dep| dep["pkg"].as_str().unwrap().to_owned())
                .collect();
            (id.clone(), (names[id.as_str()].to_owned(), deps))
        })
        .collect()
}

#[test]
fn workspace_crates_follow_the_design_arrows() {
    let metadata = metadata();
    let graph = graph(&metadata);
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(members.len() >= 4);
    for member in &members {
        let (name, deps) = &graph[*member];
        for dep in deps {
            let dep_name = &graph[dep].0;
            if dep_name.starts_with("castellan-") {
                assert!(
                    allowed(name).contains(dep_name.as_str()),
                    "{name} must not depend on {dep_name} (DESIGN.md arrows)"
                );
            }
        }
    }
}

#[test]
fn the_domain_stays_pure() {
    let metadata = metadata();
    let graph = graph(&metadata);
    let domain = graph
        .iter()
        .find(|(_, (name, _))| name == "castellan-domain")
        .map(|(id, _)| id.clone())
        .unwrap();
    let mut seen = BTreeSet::new();
    let mut stack = vec![domain];
    while let Some(id) = stack.pop() {
        if seen.insert(id.clone()) {
            stack.extend(graph[&id].1.iter().cloned());
        }
    }
    let reached: BTreeSet<&str> = seen.iter().map(|id| graph[id].0.as_str()).collect();
    for forbidden in FORBIDDEN_IN_DOMAIN {
        assert!(
            !reached.contains(forbidden),
            "castellan-domain pulls in {forbidden}"
        );
    }
}
