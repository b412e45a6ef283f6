//! The first factors of a sign-in: what can prove who the user is. Each is one variant, so a
//! new way to sign in is a new variant that the flow's exhaustive match then asks to handle.

use super::method::AuthMethod;
use crate::sensitive::Password;
use crate::user::User;

/// What proves who the user is, as the first step of a sign-in. Proofs that another service
/// verifies (a mailed link, a WebAuthn assertion) arrive here already checked, as the user they
/// proved; so does a federated identity, resolved to its account by the federation service.
#[derive(Clone)]
pub enum FirstFactor {
    /// An email and password, which the flow checks under the lockout rule.
    Password {
        /// The address as typed.
        email: String,
        /// The password as typed.
        password: Password,
    },
    /// A magic link proved the address of this user (`email`).
    MagicLink(User),
    /// A passkey assertion proved this user (`hwk`, and `user` when the authenticator verified
    /// the user).
    Passkey {
        /// Whose passkey it was.
        user: User,
        /// The authenticator verified the user (PIN or biometrics).
        user_verified: bool,
    },
    /// An account created with a password in this very request (the sign-up page): it has no
    /// second factor yet and its password was just chosen.
    NewAccount(User),
    /// An identity provider vouched for this user: a SAML assertion of the organization's IdP
    /// (`saml`) or an upstream provider's login (`fed`).
    Federated {
        /// The account the identity resolved to.
        user: User,
        /// `saml` or `fed`.
        method: AuthMethod,
    },
}

impl std::fmt::Debug for FirstFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Password { .. } => "FirstFactor::Password(..)",
            Self::MagicLink(_) => "FirstFactor::MagicLink(..)",
            Self::Passkey { .. } => "FirstFactor::Passkey(..)",
            Self::NewAccount(_) => "FirstFactor::NewAccount(..)",
            Self::Federated { .. } => "FirstFactor::Federated(..)",
        })
    }
}
