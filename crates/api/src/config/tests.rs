// figment's Jail returns its own (large) error type; that is its API, not ours.
#![allow(clippy::result_large_err)]

use super::*;
use figment::Jail;

/// Loads as the binary does, inside the jail's directory and environment.
fn load_in(_jail: &Jail) -> Result<Config, ConfigError> {
    Config::load(None)
}

#[test]
fn defaults_are_the_embedded_mode() {
    Jail::expect_with(|jail| {
        let config = load_in(jail).unwrap();
        assert_eq!(config.issuer, "http://localhost:8000");
        assert_eq!(config.server.bind.to_string(), "0.0.0.0:8000");
        assert_eq!(config.database.url.expose(), "sqlite://./data/castellan.db");
        assert!(config.cache.url.is_empty());
        assert_eq!(config.mail.transport, MailTransport::File);
        assert_eq!(config.mail.outbox_dir, PathBuf::from("./data/mail"));
        assert_eq!(config.log.format, LogFormat::Human);
        Ok(())
    });
}

#[test]
fn environment_overrides_file_overrides_defaults() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "castellan.toml",
            r#"
            issuer = "https://id.example.com/"
            [server]
            bind = "127.0.0.1:7000"
            [log]
            format = "json"
            "#,
        )?;
        jail.set_env("CASTELLAN_SERVER__BIND", "127.0.0.1:9000");
        jail.set_env("CASTELLAN_DATA_DIR", "/tmp/x");
        jail.set_env("CASTELLAN_CONFIG", "ignored-by-the-layers.toml");
        let config = load_in(jail).unwrap();
        assert_eq!(config.issuer, "https://id.example.com");
        assert!(config.issuer_is_https());
        assert_eq!(config.server.bind.to_string(), "127.0.0.1:9000");
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.database.url.expose(), "sqlite:///tmp/x/castellan.db");
        Ok(())
    });
}

#[test]
fn an_unknown_key_is_named_with_its_source() {
    Jail::expect_with(|jail| {
        jail.set_env("CASTELLAN_SERVER__BINDD", "127.0.0.1:9000");
        let error = load_in(jail).unwrap_err();
        assert_eq!(error.key, "server.bindd");
        assert!(error.message.contains("unknown key `bindd`"), "{error}");
        assert!(error.message.contains("CASTELLAN_SERVER__BINDD"), "{error}");
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.create_file("castellan.toml", "[databse]\nurl = \"sqlite://x\"\n")?;
        let error = load_in(jail).unwrap_err();
        assert_eq!(error.key, "databse");
        assert!(error.message.contains("castellan.toml"), "{error}");
        Ok(())
    });
}

#[test]
fn bad_values_are_named() {
    let cases = [
        ("CASTELLAN_SERVER__BIND", "not-an-address", "server.bind"),
        ("CASTELLAN_ISSUER", "ftp://id.example.com", "issuer"),
        ("CASTELLAN_ISSUER", "https://id.example.com/?x=1", "issuer"),
        (
            "CASTELLAN_DATABASE__URL",
            "mysql://db/castellan",
            "database.url",
        ),
        (
            "CASTELLAN_CACHE__URL",
            "redis+sentinel://h:26379/m",
            "cache.url",
        ),
        ("CASTELLAN_LOG__FORMAT", "xml", "log.format"),
        ("CASTELLAN_MAIL__TRANSPORT", "smtp", "mail.smtp.host"),
        ("CASTELLAN_MAIL__FROM", "nobody", "mail.from"),
        (
            "CASTELLAN_ACCOUNTS__LOCKOUT_MINUTES",
            "0",
            "accounts.lockout_minutes",
        ),
        (
            "CASTELLAN_RATE_LIMIT__PER_IP_PER_HOUR",
            "0",
            "rate_limit.per_ip_per_hour",
        ),
        (
            "CASTELLAN_SERVER__CORS__ALLOWED_ORIGINS",
            "[\"https://a.example/path\"]",
            "server.cors.allowed_origins",
        ),
        (
            "CASTELLAN_OUTBOUND__ALLOWED_HOSTS",
            "[\"10.0.0.0/40\"]",
            "outbound.allowed_hosts",
        ),
        (
            "CASTELLAN_OUTBOUND__ALLOWED_HOSTS",
            "[\"https://idp.corp.example\"]",
            "outbound.allowed_hosts",
        ),
        (
            "CASTELLAN_OUTBOUND__TIMEOUT_SECS",
            "0",
            "outbound.timeout_secs",
        ),
        (
            "CASTELLAN_OUTBOUND__MAX_RESPONSE_BYTES",
            "0",
            "outbound.max_response_bytes",
        ),
    ];
    for (variable, value, key) in cases {
        Jail::expect_with(|jail| {
            jail.set_env(variable, value);
            let error = load_in(jail).unwrap_err();
            assert_eq!(error.key, key, "{variable}={value}: {error}");
            Ok(())
        });
    }
}

#[test]
fn errors_never_repeat_a_secret_value() {
    for (variable, key) in [
        ("CASTELLAN_MAIL__SMTP__PASSWORD", "mail.smtp.password"),
        ("CASTELLAN_KEYS__MASTER_KEY", "keys.master_key"),
        ("CASTELLAN_DATABASE__URL", "database.url"),
    ] {
        Jail::expect_with(|jail| {
            jail.set_env(variable, "987654321");
            let error = load_in(jail).unwrap_err();
            assert_eq!(error.key, key);
            assert!(!error.to_string().contains("987654321"), "{error}");
            assert!(error.message.contains(variable), "{error}");
            Ok(())
        });
    }
}

#[test]
fn an_explicit_file_must_exist() {
    Jail::expect_with(|_jail| {
        let error = Config::load(Some(Path::new("missing.toml"))).unwrap_err();
        assert_eq!(error.key, "--config");
        assert!(error.message.contains("missing.toml"), "{error}");
        Ok(())
    });
}

#[test]
fn the_printed_configuration_hides_secrets() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "CASTELLAN_DATABASE__URL",
            "postgres://app:hunter2@db/castellan",
        );
        jail.set_env("CASTELLAN_CACHE__URL", "redis://:s3cret@cache:6379/0");
        jail.set_env("CASTELLAN_MAIL__SMTP__PASSWORD", "mailpass");
        jail.set_env(
            "CASTELLAN_KEYS__MASTER_KEY",
            "bWFzdGVya2V5bWFzdGVya2V5bWFzdGVya2V5bWFzdGU=",
        );
        let config = load_in(jail).unwrap();
        let printed = config.to_redacted_toml();
        for secret in ["hunter2", "s3cret", "mailpass", "bWFzdGVya2V5"] {
            assert!(!printed.contains(secret), "{secret} leaked:\n{printed}");
            assert!(
                !format!("{config:?}").contains(secret),
                "{secret} leaked in Debug"
            );
        }
        assert!(
            printed.contains("postgres://app:%5Bredacted%5D@db/castellan"),
            "{printed}"
        );
        assert_eq!(
            config.mail.smtp.password.as_ref().unwrap().expose(),
            "mailpass"
        );
        let origins = "[\"https://App.Example:443\"]";
        jail.set_env("CASTELLAN_SERVER__CORS__ALLOWED_ORIGINS", origins);
        let config = load_in(jail).unwrap();
        assert_eq!(
            config.server.cors.allowed_origins,
            vec!["https://app.example"]
        );
        Ok(())
    });
}

#[test]
fn outbound_exemptions_are_read_from_toml() {
    Jail::expect_with(|jail| {
        let config = load_in(jail).unwrap();
        assert!(config.outbound.allowed_hosts.is_empty());
        assert_eq!(config.outbound.timeout_secs, 10);
        assert_eq!(config.outbound.max_response_bytes, 1024 * 1024);
        assert!(!config.oidc.allow_private_network_callbacks);
        jail.create_file(
            "castellan.toml",
            r#"
            [outbound]
            allowed_hosts = ["idp.corp.example", "10.0.0.0/8", "fd00::/8", "127.0.0.1"]
            timeout_secs = 3
            max_response_bytes = 65536
            [oidc]
            allow_private_network_callbacks = true
            "#,
        )?;
        let config = load_in(jail).unwrap();
        assert_eq!(config.outbound.allowed_hosts.len(), 4);
        assert_eq!(config.outbound.timeout_secs, 3);
        assert_eq!(config.outbound.max_response_bytes, 65536);
        // The deprecated alias is still accepted.
        assert!(config.oidc.allow_private_network_callbacks);
        Ok(())
    });
}
