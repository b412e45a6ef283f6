//! Configuration values that must never be printed whole: they redact themselves in `Debug`
//! and when serialized, so neither logs nor `config check` can leak them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const REDACTED: &str = "[redacted]";

/// A secret string (a password, a key). Read it with [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// A connection URL whose password part is a secret (`postgres://u:pw@h/db`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConnectionUrl(String);

impl ConnectionUrl {
    /// The URL with its password, for the driver.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no URL was configured.
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// The URL with any password replaced, safe to print.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                // Only fails for URLs that cannot have credentials, which have none to hide.
                let _ = url.set_password(Some(REDACTED));
                url.to_string()
            }
            Ok(_) => self.0.clone(),
            // An unparsable URL may still hold a secret; show only its scheme.
            Err(_) => match self.0.split_once("://") {
                Some((scheme, _)) => format!("{scheme}://{REDACTED}"),
                None if self.0.is_empty() => String::new(),
                None => REDACTED.to_owned(),
            },
        }
    }
}

impl From<String> for ConnectionUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl std::fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl Serialize for ConnectionUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for ConnectionUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(ConnectionUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let url = ConnectionUrl::from("postgres://app:hunter2@db:5432/castellan".to_owned());
        assert_eq!(
            url.redacted(),
            "postgres://app:%5Bredacted%5D@db:5432/castellan"
        );
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.expose(), "postgres://app:hunter2@db:5432/castellan");
        let plain = ConnectionUrl::from("redis://127.0.0.1:6379".to_owned());
        assert_eq!(plain.redacted(), "redis://127.0.0.1:6379");
        let broken = ConnectionUrl::from("postgres://app:hunter2@[bad".to_owned());
        assert_eq!(broken.redacted(), "postgres://[redacted]");
        let secret = Secret("hunter2".to_owned());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"[redacted]\"");
    }
}
