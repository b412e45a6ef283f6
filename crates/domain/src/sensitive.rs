//! Secret values as types: passwords, tokens, client secrets and codes travel from the handler
//! that reads them to the hash that checks them as these types, built on `secrecy`. Their
//! `Debug` is redacted and they have no `Display`, so no log line, error or panic can print
//! one; code that must use the value says so with `expose`.

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq as _;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps `value`.
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::from(value.into()))
            }

            /// The value itself, for the one place that must use it.
            pub fn expose(&self) -> &str {
                self.0.expose_secret()
            }

            /// True when `other` is the same value, compared in constant time.
            pub fn matches(&self, other: &str) -> bool {
                bool::from(self.expose().as_bytes().ct_eq(other.as_bytes()))
            }
        }

        /// Empty: a form field that was left out.
        impl Default for $name {
            fn default() -> Self {
                Self::new(String::new())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}([redacted])", stringify!($name))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::new)
            }
        }
    };
}

/// Secrets that Castellan hands out are serialised as themselves, only into the answer that
/// issues them; a password is never serialised.
macro_rules! issued_in_answers {
    ($($name:ident),*) => {
        $(impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.expose())
            }
        })*
    };
}

secret_type!(
    /// A password as the user typed it.
    Password
);
secret_type!(
    /// An OAuth client's secret, as presented or as issued once.
    ClientSecret
);
secret_type!(
    /// A bearer access token.
    AccessToken
);
secret_type!(
    /// A refresh token.
    RefreshToken
);
secret_type!(
    /// A one-time code or token: an authorization code, a device code, a second-factor code,
    /// a mailed link's token.
    OneTimeCode
);

issued_in_answers!(ClientSecret, AccessToken, RefreshToken, OneTimeCode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_and_compare_in_full() {
        let password = Password::new("Correct-Horse-9");
        assert_eq!(format!("{password:?}"), "Password([redacted])");
        assert_eq!(password.expose(), "Correct-Horse-9");
        assert!(password.matches("Correct-Horse-9"));
        assert!(!password.matches("Correct-Horse"));
        let token: RefreshToken = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(serde_json::to_string(&token).unwrap(), "\"abc\"");
    }
}
