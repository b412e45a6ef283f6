//! The architecture of docs/architecture.md, checked: the crate dependency arrows against
//! `cargo metadata` (which workspace crate may depend on which, and that the domain pulls in no
//! framework, database or cache client, even transitively; only normal dependencies count), the
//! size of every source file, and that only the adapters read the system clock or the operating
//! system's random numbers.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
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
    "castellan-passwords",
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
                    "{name} must not depend on {dep_name} (docs/architecture.md arrows)"
                );
            }
        }
    }
}

/// The names of every package `crate_name` reaches through normal dependencies.
fn reached_from<'g>(
    graph: &'g HashMap<String, (String, Vec<String>)>,
    crate_name: &str,
) -> BTreeSet<&'g str> {
    let start = graph
        .iter()
        .find(|(_, (name, _))| name == crate_name)
        .map(|(id, _)| id.clone())
        .unwrap();
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(id) = stack.pop() {
        if seen.insert(id.clone()) {
            stack.extend(graph[&id].1.iter().cloned());
        }
    }
    seen.iter().map(|id| graph[id].0.as_str()).collect()
}

#[test]
fn the_domain_stays_pure() {
    let metadata = metadata();
    let graph = graph(&metadata);
    let reached = reached_from(&graph, "castellan-domain");
    for forbidden in FORBIDDEN_IN_DOMAIN {
        assert!(
            !reached.contains(forbidden),
            "castellan-domain pulls in {forbidden}"
        );
    }
}

/// The federation crate is tested without a server: no web framework, even transitively. Its
/// features are resolved as when it is built alone (`cargo tree -p`), since the workspace-wide
/// resolution also holds the api tests' features (an HTTP client for their relying party).
#[test]
fn the_sso_crate_knows_no_web_framework() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "castellan-sso",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap();
    assert!(output.status.success(), "cargo tree failed");
    let tree = String::from_utf8(output.stdout).unwrap();
    let reached: BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(reached.contains("castellan-domain"), "{tree}");
    for forbidden in ["axum", "axum-core", "tower-http", "reqwest"] {
        assert!(
            !reached.contains(forbidden),
            "castellan-sso pulls in {forbidden}"
        );
    }
}

/// The most lines a source file may have: past it, a file holds more than one purpose.
const MOST_LINES: usize = 800;

/// Calls that read the system clock or the operating system's random numbers directly.
const SYSTEM_CALLS: &[&str] = &[
    "Utc::now(",
    "SystemTime::now(",
    "rand::random",
    "thread_rng(",
    "rand::rng(",
    "OsRng",
];

/// The adapters that may make those calls: the system clock and random source, and the
/// cryptographic adapters that hand the operating system's generator to a library (argon2's
/// salts, new signing keys, AES-GCM nonces under the master key).
const SYSTEM_ADAPTERS: &[&str] = &[
    "crates/domain/src/clock.rs",
    "crates/domain/src/random.rs",
    "crates/passwords/src/",
    "crates/oidc/src/key_material.rs",
    "crates/oidc/src/master_key.rs",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// Every `.rs` file under `crates/*/src` and `migration/src`, relative to the workspace root.
fn source_files() -> Vec<(String, String)> {
    let root = workspace_root();
    let mut roots: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("src"))
        .collect();
    roots.push(root.join("migration/src"));
    let mut files = Vec::new();
    while let Some(dir) = roots.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                roots.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let relative = path.strip_prefix(&root).unwrap();
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((relative.to_string_lossy().replace('\\', "/"), text));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn no_source_file_is_over_the_line_limit() {
    let files = source_files();
    assert!(files.len() > 50, "found only {} source files", files.len());
    let over: Vec<String> = files
        .iter()
        .filter(|(_, text)| text.lines().count() > MOST_LINES)
        .map(|(path, text)| format!("{path}: {} lines", text.lines().count()))
        .collect();
    assert!(
        over.is_empty(),
        "split these files (at most {MOST_LINES} lines each): {over:#?}"
    );
}

#[test]
fn only_adapters_read_the_system_clock_or_random_numbers() {
    let mut found = Vec::new();
    for (path, text) in source_files() {
        if SYSTEM_ADAPTERS
            .iter()
            .any(|allowed| path.starts_with(allowed))
        {
            continue;
        }
        // A file's own unit tests come after `#[cfg(test)]`; they may use the real clock.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (index, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            if let Some(call) = SYSTEM_CALLS.iter().find(|call| line.contains(*call)) {
                found.push(format!("{path}:{}: {call}", index + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "take the time from a Clock and random bytes from a RandomSource: {found:#?}"
    );
}
