//! The sign-up page: a new account with a password, signed in at once (through enrolment
//! first where the platform requires a second factor).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use castellan_domain::{FirstFactor, NewAccount};
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::errors::{Flow, Shown, shown};
use super::login::sign_in_step;
use super::query::PageQuery;
use super::render::{form_page, message, page_status};
use super::{FormTarget, interaction_link, page_interaction};
use crate::http::client::Client;
use crate::state::AppState;
use castellan_domain::Password;

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    csrf: String,
    interaction: Option<String>,
    client_name: Option<String>,
    email: String,
    first_name: String,
    last_name: String,
    error: Option<String>,
    /// The password policy in force, in one sentence.
    policy: String,
    login_link: String,
}

#[derive(Deserialize, Default)]
pub(super) struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: Password,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    interaction: Option<String>,
}

async fn render_signup(
    state: &AppState,
    jar: CookieJar,
    form: SignupForm,
    error: Option<(StatusCode, String)>,
) -> Response {
    if !state.config.accounts.signup_enabled {
        return message(
            StatusCode::FORBIDDEN,
            "Sign-up is closed",
            "New accounts are created by an administrator.",
        );
    }
    let client_name = match page_interaction(state, form.interaction.as_deref()).await {
        Ok(interaction) => interaction.map(|interaction| interaction.client_name),
        Err(response) => return response,
    };
    let (status, error) = page_status(error);
    let policy = crate::server::settings::password_policy(&state.config).describe();
    form_page(state, jar, status, |csrf| SignupPage {
        csrf,
        login_link: match &form.interaction {
            Some(id) => interaction_link("/login", id),
            None => "/login".to_owned(),
        },
        interaction: form.interaction,
        client_name,
        email: form.email,
        first_name: form.first_name,
        last_name: form.last_name,
        error,
        policy,
    })
}

pub(super) async fn signup_page(
    State(state): State<AppState>,
    jar: CookieJar,
    PageQuery(query): PageQuery<FormTarget>,
) -> Response {
    let form = SignupForm {
        interaction: query.interaction,
        ..SignupForm::default()
    };
    render_signup(&state, jar, form, None).await
}

pub(super) async fn signup_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    CsrfForm(mut form): CsrfForm<SignupForm>,
) -> Response {
    if !state.config.accounts.signup_enabled {
        return render_signup(&state, jar, form, None).await;
    }
    let optional = |text: &str| Some(text.to_owned()).filter(|text| !text.trim().is_empty());
    let new = NewAccount {
        email: form.email.clone(),
        password: std::mem::take(&mut form.password),
        first_name: optional(&form.first_name),
        last_name: optional(&form.last_name),
    };
    match state.email.sign_up(new, &context).await {
        Ok(user) => {
            let target = FormTarget {
                interaction: form.interaction.clone(),
                next: None,
            };
            let outcome = state
                .signin
                .sign_in_browser(FirstFactor::NewAccount(user).into(), &context)
                .await;
            sign_in_step(&state, jar, outcome, target, String::new(), &context).await
        }
        Err(error) => match shown(error, Flow::SignUp) {
            Shown::Form(status, text) | Shown::SignIn(status, text) => {
                render_signup(&state, jar, form, Some((status, text))).await
            }
            Shown::Page(response) => response,
        },
    }
}
