//! The one renderer of errors on the hosted pages: every domain error, on every page, becomes
//! either the page's own form again with a message, the sign-in page again, or a page of its
//! own. The provider's OAuth errors render through [`oauth_error_page`].

use axum::http::StatusCode;
use axum::response::Response;
use castellan_domain::DomainError;
use castellan_oidc::provider::{OAuthError, OAuthErrorCode};

use super::render::{MessagePage, capitalise, message, page};

/// The page of a request refused before its page ran (by the framework or a layer): a body over
/// the limit, a method the page does not take, a request that took too long, too many attempts.
pub(crate) fn refused_page(status: StatusCode) -> Response {
    let (heading, text) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "What you sent is too large",
            "The form is larger than this server accepts. Go back, shorten what you typed and try again.",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "This took too long",
            "The server stopped waiting for your request. Go back and try again.",
        ),
        StatusCode::TOO_MANY_REQUESTS => (
            "Too many attempts",
            "Too many attempts from your network. Wait a minute and try again.",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "This page cannot be opened this way",
            "Go back and follow the link or submit the form again.",
        ),
        other if other.is_server_error() => (
            "Something went wrong",
            "The server could not complete the request. Try again in a moment.",
        ),
        _ => (
            "This request cannot be read",
            "The form or the address is incomplete or damaged. Go back, reload the page and try again.",
        ),
    };
    message(status, heading, text)
}

/// The page of an address whose query this page cannot read (opened on its own, without the
/// parameters of the sign-in or link it belongs to); `detail` names what is wrong.
pub(super) fn unreadable_address_page(detail: &str) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "This page cannot be opened on its own",
        &format!(
            "Its address is incomplete or damaged ({detail}). It belongs to a sign-in or a link \
             in progress: start again from the application or the message that brought you here."
        ),
    )
}

/// The page an error happened on, for the errors whose wording depends on it; the pages of a
/// client's request (consent, the organization picker, device codes) use [`error_page`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// A first factor: password, passkey, or the flow after one.
    SignIn,
    /// The code of a sign-in's second step.
    SecondStep,
    /// The first code of an enrolment during a sign-in.
    Enrolment,
    /// The sign-up form.
    SignUp,
    /// Asking for a magic link.
    MagicLinkRequest,
    /// A magic link, used.
    MagicLink,
    /// The new-password form of a reset link.
    PasswordReset,
    /// An invitation's link.
    Invitation,
    /// Any other link sent by mail (address verification and change).
    Link,
}

impl Flow {
    /// Whether the error belongs on the sign-in page.
    fn signs_in(self) -> bool {
        matches!(
            self,
            Self::SignIn | Self::SecondStep | Self::Enrolment | Self::MagicLink
        )
    }

    /// Whether the page is reached through a link sent by mail.
    fn reached_by_link(self) -> bool {
        matches!(
            self,
            Self::MagicLink | Self::PasswordReset | Self::Invitation | Self::Link
        )
    }
}

/// What an error becomes.
pub(super) enum Shown {
    /// The page's own form again, with this status and message.
    Form(StatusCode, String),
    /// The sign-in page again, with this status and message.
    SignIn(StatusCode, String),
    /// A page of its own.
    Page(Response),
}

fn form(status: StatusCode, text: impl Into<String>) -> Shown {
    Shown::Form(status, text.into())
}

fn sign_in(status: StatusCode, text: impl Into<String>) -> Shown {
    Shown::SignIn(status, text.into())
}

/// How `error` shows on a page of `flow`.
pub(super) fn shown(error: DomainError, flow: Flow) -> Shown {
    match error {
        DomainError::InvalidMfaCode if flow == Flow::SecondStep => form(
            StatusCode::UNAUTHORIZED,
            "That code is wrong or was already used.",
        ),
        DomainError::InvalidMfaCode if flow == Flow::Enrolment => form(
            StatusCode::UNAUTHORIZED,
            "That code is wrong. Check the app's clock and try the newest code.",
        ),
        DomainError::InvalidCredentials if flow.signs_in() => {
            sign_in(StatusCode::UNAUTHORIZED, "Wrong email or password.")
        }
        DomainError::AccountLocked { retry_after } if flow.signs_in() => {
            let minutes = retry_after.as_secs().div_ceil(60).max(1);
            sign_in(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many failed attempts. Try again in {minutes} minutes."),
            )
        }
        DomainError::InvalidToken if flow == Flow::Invitation => Shown::Page(message(
            StatusCode::BAD_REQUEST,
            "This invitation does not work here",
            "It was used already, has expired, or was sent to another address than the one you are signed in with.",
        )),
        DomainError::InvalidToken if flow.reached_by_link() => Shown::Page(message(
            StatusCode::BAD_REQUEST,
            "This link no longer works",
            "It was used already or has expired. Ask for a new one.",
        )),
        DomainError::InvalidToken if flow.signs_in() => sign_in(
            StatusCode::UNAUTHORIZED,
            "The sign-in took too long or was already used. Please sign in again.",
        ),
        DomainError::Passkey(why) if flow.signs_in() => {
            sign_in(StatusCode::BAD_REQUEST, format!("Passkey refused: {why}."))
        }
        DomainError::PendingConfirmation if flow.signs_in() => sign_in(
            StatusCode::FORBIDDEN,
            "Please confirm your email address first: open the link we sent you.",
        ),
        DomainError::Validation { message, .. }
            if matches!(flow, Flow::SignUp | Flow::PasswordReset) =>
        {
            form(StatusCode::UNPROCESSABLE_ENTITY, capitalise(&message))
        }
        DomainError::Invalid(violations) if matches!(flow, Flow::SignUp | Flow::PasswordReset) => {
            form(
                StatusCode::UNPROCESSABLE_ENTITY,
                capitalise(&violations.to_string()),
            )
        }
        DomainError::Validation { message: text, .. } if flow == Flow::MagicLinkRequest => {
            Shown::Page(message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "That address does not look right",
                &capitalise(&text),
            ))
        }
        DomainError::Conflict(_) if flow == Flow::SignUp => form(
            StatusCode::CONFLICT,
            "An account with this email already exists. Sign in instead.",
        ),
        DomainError::Conflict(_) if flow.reached_by_link() => Shown::Page(message(
            StatusCode::CONFLICT,
            "This address is taken",
            "Another account uses this address now.",
        )),
        other => Shown::Page(error_page(other)),
    }
}

/// The page of an error that has no wording of its own where it happened: what the request
/// was refused for, in the terms of OAuth (RFC 6749 §4.1.2.1), or a server error.
pub(super) fn error_page(error: DomainError) -> Response {
    let error = match error {
        DomainError::InvalidToken => OAuthError::invalid_grant("the grant is invalid or expired"),
        DomainError::Validation { field, message } => {
            OAuthError::invalid_request(format!("{field}: {message}"))
        }
        DomainError::Invalid(violations) => OAuthError::invalid_request(violations.to_string()),
        DomainError::NotFound(what) => OAuthError::invalid_request(format!("{what} not found")),
        DomainError::Forbidden(why) => OAuthError::new(OAuthErrorCode::AccessDenied, why),
        other @ (DomainError::Conflict(_)
        | DomainError::InvalidCredentials
        | DomainError::AccountLocked { .. }
        | DomainError::PendingConfirmation
        | DomainError::InvalidMfaCode
        | DomainError::Passkey(_)
        | DomainError::NotConfigured(_)
        | DomainError::RateLimited(_)
        | DomainError::Internal { .. }) => server_error(&other),
        // The domain's error is non-exhaustive: a variant added later is a server error here
        // until it is given a page.
        other => server_error(&other),
    };
    oauth_error_page(&error)
}

fn server_error(error: &DomainError) -> OAuthError {
    tracing::error!(%error, "a hosted page failed");
    OAuthError::new(
        OAuthErrorCode::ServerError,
        "the server could not complete the request",
    )
}

/// The page of a request the provider refused.
pub(super) fn oauth_error_page(error: &OAuthError) -> Response {
    let status = if error.code.status() >= 500 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    page(
        status,
        &MessagePage {
            heading: "This sign-in request cannot continue",
            text: &error.description,
            error: true,
            code: Some(error.code.as_str()),
        },
    )
}
