//! Protocol values as types: a client's id, a set of scopes and a registered redirect URI,
//! each built by parsing the text a request or a registration carries, so code past the edge
//! holds a value that already obeys its rules.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest client id accepted; generated ids are 22 characters.
const MAX_CLIENT_ID_LEN: usize = 255;

/// The longest URI accepted in client metadata.
const MAX_URI_LEN: usize = 2000;

/// An OAuth client's identifier (`client_id`): 1 to 255 visible ASCII characters or spaces
/// (RFC 6749 appendix A.1). Text that is not one names no client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// The client id `value` is, or `None` when it cannot be one.
    pub fn parse(value: &str) -> Option<Self> {
        let valid = !value.is_empty()
            && value.len() <= MAX_CLIENT_ID_LEN
            && value.bytes().all(|byte| (0x20..=0x7e).contains(&byte));
        valid.then(|| Self(value.to_owned()))
    }

    /// The id of a stored client, checked when it was registered.
    pub(crate) fn registered(value: &str) -> Self {
        Self(value.to_owned())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lets a map keyed by client id be searched with the id's text.
impl std::borrow::Borrow<str> for ClientId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Compares with an id as a request sent it.
impl PartialEq<str> for ClientId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// Compares with a stored client's id.
impl PartialEq<String> for ClientId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl Serialize for ClientId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom("not a client id"))
    }
}

/// A set of OAuth scopes, read from their space-separated form: each scope once, in the
/// order first given, so the same request always reads the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

impl Scope {
    /// The scopes of space-separated `text`, without repeats.
    pub fn parse(text: &str) -> Self {
        text.split_whitespace().collect()
    }

    /// True when `scope` is one of them.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|held| held == scope)
    }

    /// True when every one of them is in `allowed`.
    pub fn within(&self, allowed: &Scope) -> bool {
        self.iter().all(|scope| allowed.contains(scope))
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> FromIterator<&'a str> for Scope {
    fn from_iter<I: IntoIterator<Item = &'a str>>(scopes: I) -> Self {
        let mut held: Vec<String> = Vec::new();
        for scope in scopes {
            if !held.iter().any(|known| known == scope) {
                held.push(scope.to_owned());
            }
        }
        Self(held)
    }
}

/// The space-separated form, as requests, tokens and answers carry it.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| Self::parse(&text))
    }
}

/// A redirect URI a client may register: absolute, without a fragment, and `https` unless
/// it goes to the device itself (a loopback address or `localhost`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

/// Why a text is not a redirect URI; the message quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidUri(String);

impl RedirectUri {
    /// The redirect URI `uri` is, or why it cannot be one.
    pub fn parse(uri: &str) -> Result<Self, InvalidUri> {
        check_absolute(uri)?;
        if uri.contains('#') {
            return Err(InvalidUri(format!("{uri:?} must not contain a fragment")));
        }
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with("http://") && loopback_parts(uri).is_none() {
            // Plain http only to the device itself; anywhere else the code could be read on
            // the way.
            let host = &lower["http://".len()..];
            if !host.starts_with("localhost") {
                return Err(InvalidUri(format!(
                    "{uri:?}: http is only allowed for loopback addresses; use https"
                )));
            }
        }
        Ok(Self(uri.to_owned()))
    }

    /// The URI as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RedirectUri {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RedirectUri {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Checks that `uri` is an absolute URI of at most 2,000 characters without whitespace.
pub(crate) fn check_absolute(uri: &str) -> Result<(), InvalidUri> {
    let not_absolute = || InvalidUri(format!("{uri:?} is not an absolute URI"));
    let scheme_end = uri
        .find("://")
        .filter(|&end| end > 0)
        .ok_or_else(not_absolute)?;
    let valid_scheme = uri[..scheme_end]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme
        || uri.len() > MAX_URI_LEN
        || uri.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(not_absolute());
    }
    Ok(())
}

/// True when an answer for `requested` may go to the `registered` redirect URI: the same
/// text, or a loopback IP redirect on another port (RFC 8252 section 7.3).
pub(crate) fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (loopback_parts(registered), loopback_parts(requested)) {
        (Some(registered), Some(requested)) => registered == requested,
        _ => false,
    }
}

/// For `http://127.0.0.1:port/path` or `http://[::1]:port/path`: (host, path-and-query).
fn loopback_parts(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(index) => rest.split_at(index),
        None => (rest, ""),
    };
    let host = if let Some(stripped) = authority.strip_prefix("[::1]") {
        if !(stripped.is_empty() || stripped.starts_with(':')) {
            return None;
        }
        "[::1]"
    } else {
        let host = authority.split(':').next()?;
        if host != "127.0.0.1" {
            return None;
        }
        host
    };
    let port = authority[host.len()..].strip_prefix(':');
    if port.is_some_and(|port| port.is_empty() || !port.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    Some((host, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_a_set_in_first_given_order() {
        let scope = Scope::parse(" openid  email openid profile ");
        assert_eq!(scope.to_string(), "openid email profile");
        assert!(scope.contains("email"));
        assert!(!scope.contains("phone"));
        assert!(Scope::parse("email openid").within(&scope));
        assert!(!Scope::parse("openid phone").within(&scope));
        assert!(Scope::parse("").within(&scope));
        assert_eq!(
            serde_json::to_string(&scope).unwrap(),
            "\"openid email profile\""
        );
    }

    #[test]
    fn client_ids_are_visible_ascii() {
        assert_eq!(ClientId::parse("my app").unwrap().as_str(), "my app");
        assert!(ClientId::parse("").is_none());
        assert!(ClientId::parse("tab\there").is_none());
        assert!(ClientId::parse(&"x".repeat(256)).is_none());
    }

    #[test]
    fn redirect_uris_are_checked_once_and_match_loopback_on_any_port() {
        assert!(RedirectUri::parse("http://127.0.0.1/cb").is_ok());
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8080/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8080/other"
        ));
        assert!(RedirectUri::parse("http://app.example/cb").is_err());
        assert!(RedirectUri::parse("https://app.example/cb#x").is_err());
        assert!(RedirectUri::parse("/relative").is_err());
        assert!(RedirectUri::parse("http://localhost:3000/cb").is_ok());
    }
}
