//! The real `castellan` executable: version, help, configuration checks, migrations, and a
//! serve that stops cleanly on SIGTERM.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::TempDir;

/// The executable, run in `dir` with no inherited `CASTELLAN_*` variables.
fn castellan(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_castellan"));
    command.current_dir(&dir.0).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("CASTELLAN_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command
}

fn run(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = castellan(dir, args, env).output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

#[test]
fn version_and_help() {
    let dir = TempDir::new();
    let (code, out, _) = run(&dir, &["--version"], &[]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("castellan {}", env!("CARGO_PKG_VERSION"))
    );
    let (code, out, _) = run(&dir, &["--help"], &[]);
    assert_eq!(code, 0);
    for command in ["serve", "migrate", "config", "openapi"] {
        assert!(out.contains(command), "{out}");
    }
}

#[test]
fn config_check_prints_the_effective_configuration_redacted() {
    let dir = TempDir::new();
    std::fs::write(
        dir.0.join("castellan.toml"),
        "issuer = \"https://id.example.com/\"\n",
    )
    .unwrap();
    let (code, out, err) = run(
        &dir,
        &["config", "check"],
        &[
            (
                "CASTELLAN_DATABASE__URL",
                "postgres://app:hunter2@db/castellan",
            ),
            ("CASTELLAN_SERVER__BIND", "127.0.0.1:9000"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("issuer = \"https://id.example.com\""), "{out}");
    assert!(out.contains("bind = \"127.0.0.1:9000\""), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
}

#[test]
fn bad_configuration_exits_2_with_one_line_naming_the_key() {
    let dir = TempDir::new();
    // (arguments, environment, what the one error line must name)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (
            &["config", "check"],
            &[("CASTELLAN_SERVER__BINDD", "x")],
            "server.bindd",
        ),
        (&["serve"], &[("CASTELLAN_ISSUER", "not a url")], "issuer"),
        (
            &["serve"],
            &[("CASTELLAN_CACHE__URL", "memcached://h")],
            "cache.url",
        ),
        (
            &["--config", "absent.toml", "config", "check"],
            &[],
            "absent.toml",
        ),
    ];
    for (args, env, named) in cases {
        let (code, out, err) = run(&dir, args, env);
        assert_eq!(code, 2, "{args:?} {env:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(named), "{err}");
    }
}

#[test]
fn migrate_up_down_and_status() {
    let dir = TempDir::new();
    let (code, out, err) = run(&dir, &["migrate", "status"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().all(|line| line.starts_with("pending")), "{out}");
    let (code, _, err) = run(&dir, &["migrate", "up"], &[]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(&dir, &["migrate", "status"], &[]);
    assert!(out.lines().all(|line| line.starts_with("applied")), "{out}");
    assert!(dir.0.join("data/castellan.db").exists());
    let (code, _, err) = run(&dir, &["migrate", "down"], &[]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(&dir, &["migrate", "status"], &[]);
    assert!(out.lines().last().unwrap().starts_with("pending"), "{out}");
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm() {
    let dir = TempDir::new();
    // The server takes a port number, not a listener, so a port the kernel called free may be
    // taken by the time the server binds it: a server that exits before answering gets another.
    let mut child = 'attempts: {
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let bind = format!("127.0.0.1:{port}");
            let mut child = castellan(&dir, &["serve"], &[("CASTELLAN_SERVER__BIND", &bind)])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let client = reqwest::Client::new();
            let health = format!("http://{bind}/health");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if let Ok(response) = client.get(&health).send().await {
                    assert_eq!(response.text().await.unwrap(), r#"{"status":"ok"}"#);
                    break 'attempts child;
                }
                assert!(Instant::now() < deadline, "server did not come up");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("the server never came up on a free port");
    };
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop within 10 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
}

#[test]
fn admin_create_and_key_rotation_from_the_command_line() {
    let dir = TempDir::new();
    let password = [("CASTELLAN_ADMIN_PASSWORD", "Correct-Horse-9-Battery")];
    let (code, out, err) = run(
        &dir,
        &["admin", "create", "--email", "Root@Example.com"],
        &password,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("created super_admin root@example.com"),
        "{out}"
    );
    let (code, _, err) = run(
        &dir,
        &["admin", "create", "--email", "root@example.com"],
        &password,
    );
    assert_eq!(code, 1, "a second account with the same email is refused");
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = run(
        &dir,
        &[
            "admin",
            "create",
            "--email",
            "weak@example.com",
            "--password",
            "weak",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("password:"), "{err}");

    let (code, out, err) = run(&dir, &["keys", "list"], &[]);
    assert_eq!(code, 0, "{err}");
    let rs256 = |out: &str| -> Vec<(String, String)> {
        out.lines()
            .filter(|line| line.starts_with("RS256"))
            .map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                (fields[1].to_owned(), fields[2].to_owned())
            })
            .collect()
    };
    let keys = rs256(&out);
    let states: Vec<&str> = keys.iter().map(|(state, _)| state.as_str()).collect();
    assert_eq!(states, ["active", "next"], "{out}");
    for algorithm in ["ES256", "EdDSA"] {
        assert_eq!(
            out.lines()
                .filter(|line| line.starts_with(algorithm))
                .count(),
            2,
            "{algorithm} has its own active and next key: {out}"
        );
    }
    let next_kid = keys[1].1.clone();
    let (code, out, err) = run(&dir, &["keys", "rotate"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("rotated; active key is now {next_kid}")),
        "{out}"
    );
    let states: Vec<String> = rs256(&out).into_iter().map(|(state, _)| state).collect();
    assert_eq!(states, ["active", "next", "retired"], "{out}");

    let (code, out, err) = run(
        &dir,
        &[
            "clients",
            "create",
            "--name",
            "CLI app",
            "--redirect-uri",
            "https://app.example/callback",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid email offline_access",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(created["client_name"], "CLI app");
    assert!(created["client_secret"].as_str().unwrap().len() >= 43);
    let (code, out, _) = run(
        &dir,
        &[
            "clients",
            "create",
            "--name",
            "Bad",
            "--redirect-uri",
            "http://app.example/cb",
        ],
        &[],
    );
    assert_eq!(
        code, 1,
        "plain http to a non-loopback host is refused: {out}"
    );
    let (code, out, err) = run(&dir, &["clients", "list"], &[]);
    assert_eq!(code, 0, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["client_id"], created["client_id"]);
    assert!(listed[0].get("client_secret").is_none());
    // The master key the embedded mode generated is private to its owner.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.0.join("data/master.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}
