//! Passwords: the policy a new password must meet, and the port that hashes and verifies them.

use crate::DomainError;
use crate::sensitive::Password;

/// Which rules a password must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyMode {
    /// Length plus upper case, lower case, a digit and a special character.
    Composition,
    /// NIST SP 800-63B: length and the blocklist only, no composition rules.
    Nist,
}

/// The rules a new password must meet.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    /// Which rule set.
    pub mode: PolicyMode,
    /// Fewest characters.
    pub min_length: usize,
    /// Most characters (argon2 accepts more; this bounds the work an attacker can ask for).
    pub max_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            mode: PolicyMode::Composition,
            min_length: 12,
            max_length: 128,
        }
    }
}

/// Base words of the most common passwords; a password that is one of them plus digits and
/// symbols (or with digits for letters, as in `Passw0rd123!`) is refused.
const COMMON_BASES: &[&str] = &[
    "password",
    "passwort",
    "qwerty",
    "qwertyuiop",
    "asdfgh",
    "asdfghjkl",
    "zxcvbnm",
    "welcome",
    "letmein",
    "admin",
    "administrator",
    "iloveyou",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "shadow",
    "master",
    "superman",
    "batman",
    "trustno",
    "whatever",
    "starwars",
    "changeme",
    "secret",
    "login",
    "default",
    "hello",
    "freedom",
    "michael",
    "computer",
    "abc",
    "abcdef",
    "abcdefg",
    "qazwsx",
    "access",
    "mustang",
    "jordan",
    "charlie",
    "summer",
    "winter",
    "spring",
    "autumn",
    "january",
    "october",
    "november",
    "december",
    "castellan",
    "test",
    "testing",
    "guest",
    "user",
    "root",
    "toor",
    "pass",
    "p@ss",
    "love",
];

/// Whole passwords seen most often in breaches (compared lower-cased).
const COMMON_PASSWORDS: &[&str] = &[
    "123456789012",
    "1234567890123",
    "123456123456",
    "111111111111",
    "000000000000",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "zaq12wsxcde3",
    "qwertyuiop123",
    "a1b2c3d4e5f6",
    "aaaaaaaaaaaa",
    "abcd1234abcd",
    "iloveyou1234",
    "1234qwerasdf",
    "q1w2e3r4t5y6",
    "correcthorsebatterystaple",
    "passwordpassword",
    "abcdefghijkl",
];

impl PasswordPolicy {
    /// The rules in one sentence, for the forms that ask for a new password.
    pub fn describe(&self) -> String {
        let length = format!("{} to {} characters", self.min_length, self.max_length);
        match self.mode {
            PolicyMode::Composition => format!(
                "{length}, with an uppercase letter, a lowercase letter, a digit and a special \
                 character; not a commonly used password."
            ),
            PolicyMode::Nist => format!("{length}; not a commonly used password."),
        }
    }

    /// Checks a candidate password; the error names the `password` field and every rule broken.
    pub fn check(&self, password: &str) -> Result<(), DomainError> {
        let mut broken = Vec::new();
        let length = password.chars().count();
        if length < self.min_length {
            broken.push(format!("must be at least {} characters", self.min_length));
        }
        if length > self.max_length {
            broken.push(format!("must be at most {} characters", self.max_length));
        }
        if self.mode == PolicyMode::Composition {
            let has = |test: fn(char) -> bool| password.chars().any(test);
            if !has(char::is_uppercase) {
                broken.push("must contain an uppercase letter".to_owned());
            }
            if !has(char::is_lowercase) {
                broken.push("must contain a lowercase letter".to_owned());
            }
            if !has(|c| c.is_ascii_digit()) {
                broken.push("must contain a digit".to_owned());
            }
            if !has(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
                broken.push("must contain a special character".to_owned());
            }
        }
        if is_common(password) {
            broken.push(
                "is too common; choose one that is not on lists of breached passwords".to_owned(),
            );
        }
        if broken.is_empty() {
            Ok(())
        } else {
            Err(DomainError::invalid("password", broken.join("; ")))
        }
    }
}

fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return true;
    }
    // Undo the usual substitutions, then drop trailing digits and symbols.
    let plain: String = lower
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            other => other,
        })
        .collect();
    let base = lower.trim_end_matches(|c: char| !c.is_alphabetic());
    let plain_base = plain
        .get(..base.len())
        .unwrap_or(&plain)
        .trim_end_matches(|c: char| !c.is_alphabetic());
    [base, plain_base]
        .iter()
        .any(|candidate| COMMON_BASES.contains(candidate) || repeats_one_base(candidate))
}

/// `passwordpassword`, `adminadmin`, ...
fn repeats_one_base(candidate: &str) -> bool {
    COMMON_BASES.iter().any(|base| {
        !candidate.is_empty()
            && candidate.len().is_multiple_of(base.len())
            && candidate.len() > base.len()
            && candidate
                .as_bytes()
                .chunks(base.len())
                .all(|chunk| chunk == base.as_bytes())
    })
}

/// Hashes and verifies passwords (the argon2id worker pool of `castellan-passwords` in the
/// server). Implementations keep the work off the async runtime and cost the same time for an
/// unknown account as for a wrong password.
#[async_trait::async_trait]
pub trait PasswordHasher: Send + Sync + std::fmt::Debug {
    /// The PHC string of a fresh, salted hash of `password`.
    async fn hash(&self, password: &Password) -> Result<String, DomainError>;
    /// True when `password` matches the PHC string `hash`. A malformed hash never matches.
    async fn verify(&self, password: &Password, hash: &str) -> Result<bool, DomainError>;
    /// Spends the time of one verification without an account, so "no such user" cannot be
    /// told apart from "wrong password" by timing.
    async fn verify_decoy(&self, password: &Password) -> Result<(), DomainError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composition_policy_names_every_broken_rule() {
        let policy = PasswordPolicy::default();
        assert!(policy.check("Correct-Horse-9-Battery").is_ok());
        let error = policy.check("short").unwrap_err().to_string();
        for rule in ["at least 12", "uppercase", "digit", "special"] {
            assert!(error.contains(rule), "{error}");
        }
        assert!(error.starts_with("password:"), "{error}");
        assert!(
            policy
                .check(&"Aa1!".repeat(40))
                .unwrap_err()
                .to_string()
                .contains("at most 128")
        );
    }

    #[test]
    fn common_passwords_are_refused_in_both_modes() {
        for mode in [PolicyMode::Composition, PolicyMode::Nist] {
            let policy = PasswordPolicy {
                mode,
                ..PasswordPolicy::default()
            };
            for common in [
                "Passw0rd123!",
                "P@ssword2024!",
                "Welcome123!!",
                "Qwerty123456!",
                "adminadminadmin",
            ] {
                let error = policy.check(common).unwrap_err().to_string();
                assert!(error.contains("too common"), "{mode:?} {common}: {error}");
            }
        }
    }

    #[test]
    fn nist_mode_drops_composition_rules() {
        let policy = PasswordPolicy {
            mode: PolicyMode::Nist,
            ..PasswordPolicy::default()
        };
        assert!(policy.check("correct horse battery").is_ok());
        assert!(policy.check("tiny").is_err());
    }
}
