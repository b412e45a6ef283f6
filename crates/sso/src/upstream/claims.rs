//! The identity an upstream login yields, and how a plain OAuth 2 provider's userinfo JSON is
//! read into it: a claim mapping of (dotted) field paths, and GitHub's separate email list.

use serde_json::{Map, Value};

use super::UpstreamError;

/// A user as an upstream provider vouches for them, for the domain to link or provision.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamIdentity {
    /// The slug of the provider the login went through.
    pub provider: String,
    /// The upstream issuer (the ID token's `iss`, or the OAuth 2 provider's configured name).
    pub issuer: String,
    /// The user's stable identifier at the issuer.
    pub subject: String,
    /// The user's email, if the provider gave one.
    pub email: Option<String>,
    /// Whether the provider vouches that the user controls `email`; false when unsaid.
    pub email_verified: bool,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Full name.
    pub name: Option<String>,
    /// Picture URL.
    pub picture: Option<String>,
    /// Every claim the provider sent (ID token claims, completed by userinfo; or the userinfo
    /// document), for attribute mapping.
    pub raw_claims: Map<String, Value>,
}

/// Which userinfo fields hold which claim. A path is a field name, or names joined by dots for
/// nested objects (`data.id`); the first path of a list that has a value wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    /// The user's stable identifier (a string or a number).
    pub subject: String,
    /// The email, if any.
    pub email: Option<String>,
    /// A boolean (or `"true"`) saying the email is verified; absent means unverified.
    pub email_verified: Option<String>,
    /// The full name, in order of preference.
    pub name: Vec<String>,
    /// The given name.
    pub given_name: Option<String>,
    /// The family name.
    pub family_name: Option<String>,
    /// The picture URL.
    pub picture: Option<String>,
}

/// Where a plain OAuth 2 provider's email comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailSource {
    /// The userinfo document, through the mapping.
    Userinfo,
    /// GitHub's list of addresses (`GET /user/emails`): the primary one, verified only if
    /// GitHub says so; the profile's public email is ignored, since it is not known verified.
    GitHubEmails {
        /// The list's URL.
        url: String,
    },
}

/// Reads the value at a dotted `path` of `document`.
fn at<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(document, |value, key| value.get(key))
        .filter(|value| !value.is_null())
}

/// A non-empty string at `path`; numbers are written out (GitHub and Discord ids).
fn text(document: &Value, path: &str) -> Option<String> {
    match at(document, path)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Whether a claim says true: JSON `true` or the string `"true"` (Apple sends both).
pub(crate) fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

impl ClaimMapping {
    /// Reads `userinfo` into an identity of `provider` at `issuer`.
    pub fn apply(
        &self,
        provider: &str,
        issuer: &str,
        userinfo: &Value,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let Value::Object(raw_claims) = userinfo else {
            return Err(UpstreamError::Malformed("userinfo is not a JSON object"));
        };
        let subject =
            text(userinfo, &self.subject).ok_or(UpstreamError::MissingClaim("subject"))?;
        let pick = |path: &Option<String>| path.as_deref().and_then(|path| text(userinfo, path));
        let email = pick(&self.email);
        let email_verified = email.is_some()
            && self
                .email_verified
                .as_deref()
                .is_some_and(|path| truthy(at(userinfo, path)));
        Ok(UpstreamIdentity {
            provider: provider.to_owned(),
            issuer: issuer.to_owned(),
            subject,
            email,
            email_verified,
            given_name: pick(&self.given_name),
            family_name: pick(&self.family_name),
            name: self.name.iter().find_map(|path| text(userinfo, path)),
            picture: pick(&self.picture),
            raw_claims: raw_claims.clone(),
        })
    }
}

/// The primary address of GitHub's `/user/emails` list and whether it is verified; `None` when
/// the list has no primary address.
pub fn github_primary_email(emails: &Value) -> Result<Option<(String, bool)>, UpstreamError> {
    let Value::Array(entries) = emails else {
        return Err(UpstreamError::Malformed(
            "the email list is not a JSON array",
        ));
    };
    Ok(entries
        .iter()
        .find(|entry| truthy(entry.get("primary")))
        .and_then(|entry| {
            let email = text(entry, "email")?;
            Some((email, truthy(entry.get("verified"))))
        }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::upstream::Preset;

    fn mapping_of(preset: Preset) -> ClaimMapping {
        match preset.spec().oauth2_endpoints() {
            Some(endpoints) => endpoints.mapping,
            None => panic!("{preset:?} is OpenID Connect"),
        }
    }

    #[test]
    fn github_ids_are_numbers_and_the_profile_email_is_not_trusted() {
        let user = json!({
            "login": "octocat", "id": 583231, "name": null,
            "email": "public@example.com", "avatar_url": "https://avatars.example/u/583231"
        });
        let identity = mapping_of(Preset::Github)
            .apply("github", "https://github.com", &user)
            .unwrap();
        assert_eq!(identity.subject, "583231");
        assert_eq!(identity.email, None);
        assert!(!identity.email_verified);
        assert_eq!(identity.name.as_deref(), Some("octocat"));
        assert_eq!(
            identity.picture.as_deref(),
            Some("https://avatars.example/u/583231")
        );
    }

    #[test]
    fn githubs_primary_email_counts_only_as_github_verified_it() {
        let emails = json!([
            {"email": "old@example.com", "primary": false, "verified": true},
            {"email": "main@example.com", "primary": true, "verified": false},
        ]);
        assert_eq!(
            github_primary_email(&emails).unwrap(),
            Some(("main@example.com".to_owned(), false))
        );
        let verified = json!([{"email": "main@example.com", "primary": true, "verified": true}]);
        assert_eq!(
            github_primary_email(&verified).unwrap(),
            Some(("main@example.com".to_owned(), true))
        );
        assert_eq!(github_primary_email(&json!([])).unwrap(), None);
        assert!(github_primary_email(&json!({"message": "Bad credentials"})).is_err());
    }

    #[test]
    fn discord_says_verified_for_the_email() {
        let user = json!({
            "id": "80351110224678912", "username": "nelly", "global_name": "Nelly",
            "email": "nelly@example.com", "verified": true
        });
        let identity = mapping_of(Preset::Discord)
            .apply("discord", "https://discord.com", &user)
            .unwrap();
        assert_eq!(identity.subject, "80351110224678912");
        assert_eq!(identity.email.as_deref(), Some("nelly@example.com"));
        assert!(identity.email_verified);
        assert_eq!(identity.name.as_deref(), Some("Nelly"));
        let unverified =
            json!({"id": "1", "username": "u", "email": "u@example.com", "verified": false});
        let identity = mapping_of(Preset::Discord)
            .apply("discord", "https://discord.com", &unverified)
            .unwrap();
        assert!(!identity.email_verified);
        assert_eq!(identity.name.as_deref(), Some("u"));
    }

    #[test]
    fn x_nests_the_user_under_data_and_gives_no_email() {
        let user = json!({"data": {"id": "2244994945", "name": "X Dev", "username": "XDevelopers",
            "profile_image_url": "https://pbs.example/p.jpg"}});
        let identity = mapping_of(Preset::Twitter)
            .apply("twitter", "https://x.com", &user)
            .unwrap();
        assert_eq!(identity.subject, "2244994945");
        assert_eq!(identity.name.as_deref(), Some("X Dev"));
        assert_eq!(identity.email, None);
        assert!(!identity.email_verified);
    }

    #[test]
    fn a_custom_mapping_reads_dotted_paths_and_refuses_a_missing_subject() {
        let mapping = ClaimMapping {
            subject: "account.uid".to_owned(),
            email: Some("account.mail".to_owned()),
            email_verified: Some("account.mail_ok".to_owned()),
            name: vec!["account.display".to_owned()],
            given_name: None,
            family_name: None,
            picture: None,
        };
        let identity = mapping
            .apply(
                "corp",
                "https://corp.example",
                &json!({"account": {"uid": 7, "mail": "a@corp.example", "mail_ok": "true"}}),
            )
            .unwrap();
        assert_eq!(identity.subject, "7");
        assert!(identity.email_verified);
        assert!(matches!(
            mapping.apply("corp", "https://corp.example", &json!({"account": {}})),
            Err(UpstreamError::MissingClaim("subject"))
        ));
        assert!(matches!(
            mapping.apply("corp", "https://corp.example", &json!([1])),
            Err(UpstreamError::Malformed(_))
        ));
    }

    #[test]
    fn a_verified_flag_without_an_email_verifies_nothing() {
        let identity = mapping_of(Preset::Discord)
            .apply(
                "discord",
                "https://discord.com",
                &json!({"id": "1", "verified": true}),
            )
            .unwrap();
        assert!(!identity.email_verified);
    }
}
