//! How a user authenticated: the `amr` values of RFC 8176 that Castellan records on a session
//! and puts in its tokens, as a type instead of loose strings.

use serde::{Deserialize, Serialize};

/// One authentication method, with the RFC 8176 name it travels under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthMethod {
    /// A password (`pwd`).
    #[serde(rename = "pwd")]
    Password,
    /// A link mailed to the address (`email`).
    #[serde(rename = "email")]
    Email,
    /// A passkey or security key (`hwk`).
    #[serde(rename = "hwk")]
    HardwareKey,
    /// The authenticator verified the user, by PIN or biometrics (`user`).
    #[serde(rename = "user")]
    UserPresence,
    /// A one-time code from an app or a backup code (`otp`).
    #[serde(rename = "otp")]
    OneTimeCode,
    /// More than one factor (`mfa`).
    #[serde(rename = "mfa")]
    MultiFactor,
    /// A SAML assertion of an organization's IdP (`saml`).
    #[serde(rename = "saml")]
    Saml,
    /// An upstream OpenID Connect or OAuth2 provider (`fed`).
    #[serde(rename = "fed")]
    Federated,
}

impl AuthMethod {
    /// The RFC 8176 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "pwd",
            Self::Email => "email",
            Self::HardwareKey => "hwk",
            Self::UserPresence => "user",
            Self::OneTimeCode => "otp",
            Self::MultiFactor => "mfa",
            Self::Saml => "saml",
            Self::Federated => "fed",
        }
    }

    /// The method an RFC 8176 name stands for, when Castellan emits it.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Password,
            Self::Email,
            Self::HardwareKey,
            Self::UserPresence,
            Self::OneTimeCode,
            Self::MultiFactor,
            Self::Saml,
            Self::Federated,
        ]
        .into_iter()
        .find(|method| method.as_str() == name)
    }

    /// The name an organization's policy gives this first factor (`allowed_sign_in_methods`);
    /// `None` for methods that are not first factors.
    pub fn policy_name(self) -> Option<&'static str> {
        match self {
            Self::Password => Some("password"),
            Self::HardwareKey => Some("passkey"),
            Self::Email => Some("magic_link"),
            Self::Saml => Some("sso"),
            Self::Federated => Some("federated"),
            Self::UserPresence | Self::OneTimeCode | Self::MultiFactor => None,
        }
    }
}

/// The methods a sign-in used, in the order they were used, each once.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amr(Vec<AuthMethod>);

impl Amr {
    /// The methods of a first factor.
    pub fn of(methods: &[AuthMethod]) -> Self {
        let mut amr = Self::default();
        for method in methods {
            amr.add(*method);
        }
        amr
    }

    /// The methods named by `names` (a session's or a token's `amr`); names Castellan does not
    /// emit are left out.
    pub fn from_names(names: &[String]) -> Self {
        Self::of(
            &names
                .iter()
                .filter_map(|name| AuthMethod::parse(name))
                .collect::<Vec<_>>(),
        )
    }

    fn add(&mut self, method: AuthMethod) {
        if !self.0.contains(&method) {
            self.0.push(method);
        }
    }

    /// These methods and then `second`, which makes the sign-in multi-factor.
    pub fn with_second_factor(&self, second: AuthMethod) -> Self {
        let mut amr = self.clone();
        amr.add(second);
        amr.add(AuthMethod::MultiFactor);
        amr
    }

    /// Whether the sign-in used `method`.
    pub fn contains(&self, method: AuthMethod) -> bool {
        self.0.contains(&method)
    }

    /// Whether it counts as a second factor for a policy that requires one: a second step, or
    /// a passkey, which is possession and (usually) user verification at once.
    pub fn is_strong(&self) -> bool {
        self.contains(AuthMethod::MultiFactor) || self.contains(AuthMethod::HardwareKey)
    }

    /// The policy names of the first factors used.
    pub fn policy_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().filter_map(|method| method.policy_name())
    }

    /// The RFC 8176 names, as sessions and tokens carry them.
    pub fn names(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|method| method.as_str().to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_left_out() {
        let names = ["pwd", "sms", "otp", "mfa"].map(str::to_owned);
        let amr = Amr::from_names(&names);
        assert_eq!(amr.names(), ["pwd", "otp", "mfa"]);
        let federated = Amr::from_names(&["saml".to_owned(), "fed".to_owned()]);
        assert_eq!(federated.names(), ["saml", "fed"]);
        assert_eq!(
            federated.policy_names().collect::<Vec<_>>(),
            ["sso", "federated"]
        );
        assert!(amr.is_strong());
        assert_eq!(amr.policy_names().collect::<Vec<_>>(), ["password"]);
    }

    #[test]
    fn second_factor_amr_adds_the_method_and_mfa_once() {
        let amr = Amr::from_names(&["pwd".to_owned()])
            .with_second_factor(AuthMethod::OneTimeCode)
            .names();
        assert_eq!(amr, ["pwd", "otp", "mfa"]);
        assert_eq!(
            Amr::from_names(&amr)
                .with_second_factor(AuthMethod::OneTimeCode)
                .names(),
            amr
        );
    }

    #[test]
    fn serialises_as_the_rfc_names() {
        let amr = Amr::of(&[AuthMethod::HardwareKey, AuthMethod::UserPresence]);
        assert_eq!(
            serde_json::to_string(&amr).ok().as_deref(),
            Some(r#"["hwk","user"]"#)
        );
    }
}
