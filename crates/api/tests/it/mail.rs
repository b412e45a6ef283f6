//! The mail flows through a real SMTP listener on 127.0.0.1 (mailin-embedded): each message
//! is captured, its link followed and its flow completed, on SQLite and on PostgreSQL + Redis.
//! Also: a message queued while the SMTP server is down is delivered once it is up, and the
//! embedded default writes `.eml` files.

use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use castellan_api::config::Config;
use castellan_persistence::entities::mail_outbox;

use crate::mfa::claims;
use crate::oidc_support::{Browser, hidden};
use crate::support::on_both_stores;
use crate::support::{
    PASSWORD, Stores, TempDir, TestServer, access, config_for, held_port, refresh, succeeded,
};

on_both_stores!(stores:
    every_mail_flow_over_smtp,
    hosted_pages_sign_in_by_link_and_reset_a_password,
    mail_queued_while_smtp_is_down_arrives_when_it_is_back,
    the_embedded_default_writes_eml_files,
    magic_links_follow_the_configuration_and_keep_the_second_factor,
    invitations_become_memberships,
);

/// Messages an SMTP server received, raw.
#[derive(Clone, Default)]
struct Capture {
    received: Arc<Mutex<Vec<String>>>,
    current: Vec<u8>,
}

impl mailin_embedded::Handler for Capture {
    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let message = String::from_utf8_lossy(&std::mem::take(&mut self.current)).into_owned();
        self.received.lock().unwrap().push(message);
        mailin_embedded::response::OK
    }
}

/// An SMTP server on 127.0.0.1 that keeps what it receives.
struct Inbox {
    received: Arc<Mutex<Vec<String>>>,
}

impl Inbox {
    /// Starts receiving on `listener`.
    fn start(listener: TcpListener) -> Self {
        let capture = Capture::default();
        let received = capture.received.clone();
        let mut server = mailin_embedded::Server::new(capture);
        server
            .with_name("inbox.test")
            .with_num_threads(2)
            .with_tcp_listener(listener);
        // The server has no stop; its thread ends with the test process.
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { received }
    }

    /// Waits for a message to `to` whose subject contains `subject`; returns its decoded text.
    async fn wait_for(&self, to: &str, subject: &str) -> String {
        for _ in 0..100 {
            let found = self
                .received
                .lock()
                .unwrap()
                .iter()
                .map(|raw| decode_quoted_printable(raw))
                .find(|message| {
                    message.contains(&format!("To: {to}")) && message.contains(subject)
                });
            if let Some(message) = found {
                return message;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no message to {to} about {subject:?}; received: {:?}",
            self.received.lock().unwrap()
        );
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

/// Undoes quoted-printable soft breaks and `=XX` escapes (lettre's body encoding).
fn decode_quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'='
            && index + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[index + 1..index + 3], 16)
        {
            out.push(byte);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first link in `message` under `path`, as a path with its query.
fn link(message: &str, path: &str) -> String {
    let start = message
        .find(&format!("{path}?token="))
        .unwrap_or_else(|| panic!("no {path} link in {message}"));
    message[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap()
        .to_owned()
}

fn token(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_owned()
}

fn free_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Starts listening on a held port, as a blocking listener for the SMTP server's threads.
fn up(held: tokio::net::TcpSocket) -> TcpListener {
    let listener = held.listen(128).unwrap().into_std().unwrap();
    listener.set_nonblocking(false).unwrap();
    listener
}

/// Sends through the SMTP listener on `port`, retrying quickly.
fn use_smtp(config: &mut Config, port: u16) {
    config.mail.transport = castellan_api::config::MailTransport::Smtp;
    config.mail.smtp.host = "127.0.0.1".to_owned();
    config.mail.smtp.port = port;
    config.mail.smtp.security = castellan_api::config::SmtpSecurity::None;
    config.mail.smtp.timeout_secs = 2;
    config.mail.poll_interval_ms = 100;
    config.mail.retry_base_ms = 200;
    config.mail.support_address = "help@castellan.test".to_owned();
}

/// A server sending through the SMTP listener on `port`.
async fn server_with_smtp(
    stores: Stores,
    port: u16,
    adjust: impl FnOnce(&mut Config),
) -> Option<TestServer> {
    TestServer::start_with(stores, |config| {
        use_smtp(config, port);
        adjust(config);
    })
    .await
}

/// Form registration and login with confirmation required: PENDING_CONFIRMATION until
/// the emailed link is opened; then the password reset and magic link, the email change,
/// and the security notices.
async fn every_mail_flow_over_smtp(stores: Stores) {
    let listener = free_listener();
    let port = listener.local_addr().unwrap().port();
    let inbox = Inbox::start(listener);
    let server = server_with_smtp(stores, port, |config| {
        config.accounts.require_verified_email = true;
    })
    .await
    .unwrap();
    let email = "user@mrdemonwolf.github.io";

    // Register, then log in before confirming.
    let response = server
        .client
        .post(server.url("/api/v1/auth/signup"))
        .form(&[
            ("username", "usermrdemonwolf"),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], json!("PENDING_CONFIRMATION"));
    let login = server
        .client
        .post(server.url("/api/v1/auth/signin"))
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403);
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["code"], json!("PENDING_CONFIRMATION"));
    assert_eq!(
        body["error"],
        json!("Please confirm your email address to complete the registration.")
    );

    // The verification link confirms the address, once.
    let message = inbox.wait_for(email, "Confirm your email address").await;
    assert!(message.contains("help@castellan.test"));
    let verify = link(&message, "/api/v1/auth/email/verify");
    let page = server.client.get(server.url(&verify)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("is confirmed"));
    let again = server.client.get(server.url(&verify)).send().await.unwrap();
    assert_eq!(again.status(), 400);
    let tokens = server.sign_in(email, PASSWORD).await;
    assert_eq!(claims(&access(&tokens))["email_verified"], json!(true));
    let old_refresh = refresh(&tokens).to_owned();

    // A sign-in from another device gets a notice; the first sign-in set the baseline.
    let other_device = server
        .client
        .post(server.url("/api/v1/auth/signin"))
        .header("User-Agent", "Another Device/1.0")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(other_device.status(), 200);
    let notice = inbox.wait_for(email, "New sign-in").await;
    assert!(notice.contains("Another Device/1.0"));

    // Password reset: the same answer for any address; the link sets a new password under
    // the policy, ends every session and tells the account holder.
    let (status, known) = server
        .post("/api/v1/auth/password/reset", json!({"email": email}), None)
        .await;
    let (unknown_status, unknown) = server
        .post(
            "/api/v1/auth/password/reset",
            json!({"email": "nobody@example.com"}),
            None,
        )
        .await;
    assert_eq!((status, unknown_status), (202, 202));
    assert_eq!(known, unknown);
    let message = inbox.wait_for(email, "Reset your").await;
    let reset = token(&link(&message, "/reset-password"));
    let (status, _) = server
        .post(
            "/api/v1/auth/password/reset/confirm",
            json!({"token": reset, "new_password": "short"}),
            None,
        )
        .await;
    assert_eq!(status, 422, "a refused password leaves the token usable");
    let new_password = "Another-Horse-7-Battery";
    let (status, _) = server
        .post(
            "/api/v1/auth/password/reset/confirm",
            json!({"token": reset, "new_password": new_password}),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .post(
            "/api/v1/auth/password/reset/confirm",
            json!({"token": reset, "new_password": "Third-Horse-5-Battery"}),
            None,
        )
        .await;
    assert_eq!(status, 401, "the link works once");
    assert_eq!(
        server.get_as("/api/v1/auth/me", &access(&tokens)).await.0,
        401
    );
    let (status, _) = server
        .post(
            "/api/v1/auth/token/refresh",
            json!({"refresh_token": old_refresh}),
            None,
        )
        .await;
    assert_eq!(status, 401);
    inbox.wait_for(email, "password was changed").await;
    let tokens = server.sign_in(email, new_password).await;

    // Magic link: one use signs in (amr "email"); two concurrent uses of one link, one wins.
    let (status, _) = server
        .post("/api/v1/auth/magic-link", json!({"email": email}), None)
        .await;
    assert_eq!(status, 202);
    let message = inbox.wait_for(email, "sign-in link").await;
    let magic = token(&link(&message, "/login/magic"));
    let attempt = || {
        server.post(
            "/api/v1/auth/magic-link/verify",
            json!({"token": magic}),
            None,
        )
    };
    let (first, second) = tokio::join!(attempt(), attempt());
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
    let signed_in = if first.0 == 200 { first.1 } else { second.1 };
    assert_eq!(claims(&access(&signed_in))["amr"], json!(["email"]));

    // Email change: confirmation to the new address, a notice to the old; applies on use.
    let new_email = "moved@example.com";
    let (status, _) = server
        .post(
            "/api/v1/users/me/email",
            json!({"email": new_email}),
            Some(&access(&tokens)),
        )
        .await;
    assert_eq!(status, 202);
    let notice = inbox.wait_for(email, "about to change").await;
    assert!(notice.contains(new_email));
    let message = inbox.wait_for(new_email, "Confirm your new email").await;
    let change = link(&message, "/api/v1/auth/email/change/confirm");
    let page = server.client.get(server.url(&change)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    server.sign_in(new_email, new_password).await;
    let (status, _) = server
        .post(
            "/api/v1/auth/signin",
            json!({"email": email, "password": new_password}),
            None,
        )
        .await;
    assert_eq!(status, 401);

    // A lockout is a notice too.
    for _ in 0..5 {
        server
            .post(
                "/api/v1/auth/signin",
                json!({"email": new_email, "password": "Wrong-Horse-1-Battery"}),
                None,
            )
            .await;
    }
    inbox.wait_for(new_email, "was locked").await;
    server.stop().await;
}

/// The hosted pages: a sign-in link asked for on the sign-in page lands on a page that signs
/// the browser in with one click; a reset link lands on a form that sets the password.
async fn hosted_pages_sign_in_by_link_and_reset_a_password(stores: Stores) {
    let listener = free_listener();
    let port = listener.local_addr().unwrap().port();
    let inbox = Inbox::start(listener);
    let server = server_with_smtp(stores, port, |_| {}).await.unwrap();
    let email = "hosted@example.com";
    server.account(email).await;
    let browser = Browser::new(&server);
    let form = browser.get("/login").await;
    assert!(form.body.contains("Email me a link"));
    let page = browser
        .post(
            "/login/magic-link",
            &[("csrf", &hidden(&form.body, "csrf")), ("email", email)],
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Check your inbox"));
    let message = inbox.wait_for(email, "sign-in link").await;
    // Opening the link uses nothing up (mail scanners open links); the button does.
    let landing = browser.get(&link(&message, "/login/magic")).await;
    assert_eq!(landing.status, 200);
    let signed_in = browser
        .post(
            "/login/magic",
            &[
                ("csrf", &hidden(&landing.body, "csrf")),
                ("token", &hidden(&landing.body, "token")),
            ],
        )
        .await;
    assert_eq!(signed_in.location.as_deref(), Some("/login"));
    let page = browser.get("/login").await;
    assert!(
        page.body
            .contains("You are signed in as hosted@example.com")
    );

    let (status, _) = server
        .post("/api/v1/auth/password/reset", json!({"email": email}), None)
        .await;
    assert_eq!(status, 202);
    let message = inbox.wait_for(email, "Reset your").await;
    let form = browser.get(&link(&message, "/reset-password")).await;
    assert_eq!(form.status, 200);
    let (csrf, token) = (hidden(&form.body, "csrf"), hidden(&form.body, "token"));
    let submit = |password: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("token", token.clone()),
            ("new_password", password.to_owned()),
        ]
    };
    let weak = submit("short");
    let weak = weak.each_ref().map(|(name, value)| (*name, value.as_str()));
    let refused = browser.post("/reset-password", &weak).await;
    assert_eq!(refused.status, 422);
    let good = submit("Hosted-Horse-8-Battery");
    let good = good.each_ref().map(|(name, value)| (*name, value.as_str()));
    let done = browser.post("/reset-password", &good).await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("Password changed"));
    server.sign_in(email, "Hosted-Horse-8-Battery").await;
    server.stop().await;
}

on_both_stores!(production: the_outbox_survives_a_restart);
/// A message queued by one process and not yet delivered is sent by the next one on the same
/// database.
async fn the_outbox_survives_a_restart() {
    let (mut config, dir, postgres) = config_for(Stores::Production).await.unwrap();
    let (down, port) = held_port();
    use_smtp(&mut config, port);
    let first = TestServer::start_config(config.clone(), TempDir::new(), None).await;
    let (status, _) = first
        .post(
            "/api/v1/auth/signup",
            json!({"email": "restart@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(status, 201);
    // Stopped once its worker has tried, and failed, to deliver.
    watch_outbox(&first, "restart@example.com", |row| {
        row.attempts >= 1 && row.status == "pending"
    })
    .await;
    first.stop().await;
    let inbox = Inbox::start(up(down));
    let second = TestServer::start_config(config, dir, postgres).await;
    inbox
        .wait_for("restart@example.com", "Confirm your email address")
        .await;
    second.stop().await;
}

/// With the SMTP server down, a message waits in the outbox and is retried; once the server
/// is up it arrives, exactly once.
async fn mail_queued_while_smtp_is_down_arrives_when_it_is_back(stores: Stores) {
    let (down, port) = held_port();
    let server = server_with_smtp(stores, port, |_| {}).await.unwrap();
    let (status, _) = server
        .post(
            "/api/v1/auth/signup",
            json!({"email": "patient@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(status, 201);
    // Let a few deliveries fail.
    watch_outbox(&server, "patient@example.com", |row| row.attempts >= 2).await;
    let inbox = Inbox::start(up(down));
    inbox
        .wait_for("patient@example.com", "Confirm your email address")
        .await;
    // Once the outbox has it as sent, no worker will deliver it again.
    watch_outbox(&server, "patient@example.com", |row| row.status == "sent").await;
    assert_eq!(inbox.count(), 1);
    server.stop().await;
}

/// Watches the outbox row of the message to `recipient` until `settled` holds for it.
async fn watch_outbox(
    server: &TestServer,
    recipient: &str,
    settled: impl Fn(&mail_outbox::Model) -> bool,
) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let database = sea_orm::Database::connect(server.state.config.database.url.expose())
        .await
        .unwrap();
    for _ in 0..200 {
        let row = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::Recipient.eq(recipient))
            .one(&database)
            .await
            .unwrap();
        if row.as_ref().is_some_and(&settled) {
            database.close().await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the outbox row for {recipient} never settled");
}

/// The embedded default writes each message as an `.eml` file under `data_dir/mail`.
async fn the_embedded_default_writes_eml_files(stores: Stores) {
    let server = TestServer::start_with(stores, |config| {
        config.mail.poll_interval_ms = 100;
    })
    .await
    .unwrap();
    let dir = server.state.config.mail.outbox_dir.clone();
    let (status, _) = server
        .post(
            "/api/v1/auth/password/reset",
            json!({"email": "nobody@example.com"}),
            None,
        )
        .await;
    assert_eq!(status, 202);
    server.account("files@example.com").await;
    let (status, _, _) = server
        .call(
            Method::POST,
            "/api/v1/auth/password/reset",
            Some(json!({"email": "files@example.com"})),
            None,
        )
        .await;
    assert_eq!(status, 202);
    for _ in 0..100 {
        let messages: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        // The verification of the sign-up and the reset, nothing for the unknown address.
        if messages.len() == 2 {
            let decoded: Vec<String> = messages
                .iter()
                .map(|m| decode_quoted_printable(m))
                .collect();
            assert!(decoded.iter().any(|m| m.contains("/reset-password?token=")));
            assert!(decoded.iter().all(|m| m.contains("To: files@example.com")));
            server.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected two .eml files in {}", dir.display());
}

/// Magic links follow `accounts.magic_links`: off refuses, `signup` creates the account on
/// first use; and an account with two-step sign-in still takes the second step (turning it on
/// was itself notified).
async fn magic_links_follow_the_configuration_and_keep_the_second_factor(stores: Stores) {
    let listener = free_listener();
    let port = listener.local_addr().unwrap().port();
    let inbox = Inbox::start(listener);
    let off = server_with_smtp(stores, port, |config| {
        config.accounts.magic_links = castellan_domain::MagicLinks::Off;
    })
    .await
    .unwrap();
    let (status, _) = off
        .post(
            "/api/v1/auth/magic-link",
            json!({"email": "someone@example.com"}),
            None,
        )
        .await;
    assert_eq!(status, 403);
    off.stop().await;

    let server = server_with_smtp(stores, port, |config| {
        config.accounts.magic_links = castellan_domain::MagicLinks::Signup;
    })
    .await
    .unwrap();
    let (status, _) = server
        .post(
            "/api/v1/auth/magic-link",
            json!({"email": "newcomer@example.com"}),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let message = inbox.wait_for("newcomer@example.com", "sign-in link").await;
    let (status, signed_in) = server
        .post(
            "/api/v1/auth/magic-link/verify",
            json!({"token": token(&link(&message, "/login/magic"))}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{signed_in}");
    assert_eq!(signed_in["user"]["email_verified"], json!(true));

    let tokens = server.account("guarded@example.com").await;
    let (totp, _, _) = crate::mfa::enrol_totp(&server, &access(&tokens)).await;
    inbox
        .wait_for("guarded@example.com", "Two-step sign-in was turned on")
        .await;
    succeeded(
        server
            .post(
                "/api/v1/auth/magic-link",
                json!({"email": "guarded@example.com"}),
                None,
            )
            .await,
    );
    let message = inbox.wait_for("guarded@example.com", "sign-in link").await;
    let (status, challenge) = server
        .post(
            "/api/v1/auth/magic-link/verify",
            json!({"token": token(&link(&message, "/login/magic"))}),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(challenge["mfa_required"], json!(true));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (status, done) = server
        .post(
            "/api/v1/mfa/verify",
            json!({"mfa_token": challenge["mfa_token"], "code": totp.generate(now + 30)}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        claims(&access(&done))["amr"],
        json!(["email", "otp", "mfa"])
    );
    server.stop().await;
}

/// Adding an address without an account mails an invitation; only that address can accept
/// it, once, through the API or the hosted page after signing up.
async fn invitations_become_memberships(stores: Stores) {
    let listener = free_listener();
    let port = listener.local_addr().unwrap().port();
    let inbox = Inbox::start(listener);
    let server = server_with_smtp(stores, port, |_| {}).await.unwrap();
    let owner = access(&server.account("owner@invite.example").await);
    let (_, org) = server
        .post(
            "/api/v1/organizations",
            json!({"name": "Invite Co"}),
            Some(&owner),
        )
        .await;
    let id = org["id"].as_str().unwrap();
    let (status, invited) = server
        .post(
            &format!("/api/v1/organizations/{id}/members"),
            json!({"email": "newbie@invite.example", "role": "admin"}),
            Some(&owner),
        )
        .await;
    assert_eq!(status, 202, "{invited}");
    let message = inbox
        .wait_for("newbie@invite.example", "invited to Invite Co")
        .await;
    let accept = link(&message, "/invitations/accept");

    // Someone else cannot use it, and trying does not burn it.
    let other = access(&server.account("other@invite.example").await);
    let (status, _) = server
        .post(
            "/api/v1/invitations/accept",
            json!({"token": token(&accept)}),
            Some(&other),
        )
        .await;
    assert_eq!(status, 401);

    // The invitee signs up in the browser and comes back to the page.
    server.account("newbie@invite.example").await;
    let browser = Browser::new(&server);
    let page = browser.get(&accept).await;
    let login = page.location.clone().unwrap();
    assert!(login.starts_with("/login?next="), "{login}");
    let form = browser.get(&login).await;
    let signed_in = browser
        .post(
            "/login",
            &[
                ("email", "newbie@invite.example"),
                ("password", PASSWORD),
                ("csrf", &hidden(&form.body, "csrf")),
                ("next", &hidden(&form.body, "next")),
            ],
        )
        .await;
    assert_eq!(signed_in.location.as_deref(), Some(accept.as_str()));
    let confirm = browser.get(&accept).await;
    assert!(confirm.body.contains("newbie@invite.example"));
    let joined = browser
        .post(
            "/invitations/accept",
            &[
                ("csrf", &hidden(&confirm.body, "csrf")),
                ("token", &hidden(&confirm.body, "token")),
            ],
        )
        .await;
    assert_eq!(joined.status, 200, "{}", joined.body);
    assert!(joined.body.contains("You joined Invite Co"));
    let (_, members) = server
        .get_as(&format!("/api/v1/organizations/{id}/members"), &owner)
        .await;
    assert_eq!(members[1]["email"], json!("newbie@invite.example"));
    assert_eq!(members[1]["role"], json!("admin"));
    let again = browser
        .post(
            "/invitations/accept",
            &[
                ("csrf", &hidden(&confirm.body, "csrf")),
                ("token", &hidden(&confirm.body, "token")),
            ],
        )
        .await;
    assert_eq!(again.status, 400, "an invitation works once");
    server.stop().await;
}
