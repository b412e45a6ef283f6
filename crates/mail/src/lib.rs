//! Castellan's mail: messages rendered from askama templates (text and HTML), lettre
//! transports (SMTP with implicit TLS, STARTTLS or plain for a local relay; files for the
//! embedded mode), and the worker that drains the durable outbox with retries and backoff.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use castellan_domain::{Clock, DomainError, MailComposer, MailQueue, Mailer, Notice, OutgoingMail};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// The product details every message carries.
#[derive(Debug, Clone)]
pub struct Branding {
    /// The product's name.
    pub product_name: String,
    /// A logo shown at the top of HTML messages.
    pub logo_url: Option<String>,
    /// Where users can write with questions.
    pub support_address: Option<String>,
}

#[derive(Template)]
#[template(path = "message.txt")]
struct TextMessage<'a> {
    heading: &'a str,
    paragraphs: &'a [String],
    action: &'a str,
    link: Option<&'a str>,
    product: &'a str,
    support: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct HtmlMessage<'a> {
    heading: &'a str,
    paragraphs: &'a [String],
    action: &'a str,
    link: Option<&'a str>,
    product: &'a str,
    support: Option<&'a str>,
    logo: Option<&'a str>,
}

/// What a notice says, before it is dressed as text or HTML.
struct Wording {
    subject: String,
    heading: String,
    paragraphs: Vec<String>,
    action: &'static str,
    link: Option<String>,
}

/// Renders notices with the product's branding.
#[derive(Debug, Clone)]
pub struct Templates {
    branding: Branding,
}

impl Templates {
    /// Templates for `branding`.
    pub fn new(branding: Branding) -> Self {
        Self { branding }
    }

    fn wording(&self, notice: &Notice) -> Wording {
        let product = &self.branding.product_name;
        let ignore = "If you did not ask for this, you can ignore this message.".to_owned();
        let not_you = "If this was not you, reset your password now and review your account's \
                       sign-in methods."
            .to_owned();
        let plain = |subject: String, heading: &str, paragraphs: Vec<String>| Wording {
            subject,
            heading: heading.to_owned(),
            paragraphs,
            action: "",
            link: None,
        };
        match notice {
            Notice::VerifyEmail { link } => Wording {
                subject: format!("Confirm your email address for {product}"),
                heading: "Confirm your email address".to_owned(),
                paragraphs: vec![
                    "Open the link below to confirm this address. It works once, for 24 hours."
                        .to_owned(),
                    ignore,
                ],
                action: "Confirm email address",
                link: Some(link.clone()),
            },
            Notice::PasswordReset { link } => Wording {
                subject: format!("Reset your {product} password"),
                heading: "Reset your password".to_owned(),
                paragraphs: vec![
                    "Someone asked to reset the password of this account. Open the link below \
                     to choose a new one. It works once, for one hour."
                        .to_owned(),
                    ignore,
                ],
                action: "Choose a new password",
                link: Some(link.clone()),
            },
            Notice::MagicLink { link } => Wording {
                subject: format!("Your {product} sign-in link"),
                heading: "Sign in".to_owned(),
                paragraphs: vec![
                    "Open the link below to sign in. It works once, for 15 minutes.".to_owned(),
                    ignore,
                ],
                action: "Sign in",
                link: Some(link.clone()),
            },
            Notice::ConfirmEmailChange { link, new_email } => Wording {
                subject: format!("Confirm your new email address for {product}"),
                heading: "Confirm your new email address".to_owned(),
                paragraphs: vec![
                    format!(
                        "Open the link below to make {new_email} the address of your account. \
                         It works once, for 24 hours."
                    ),
                    ignore,
                ],
                action: "Confirm the new address",
                link: Some(link.clone()),
            },
            Notice::EmailChangeRequested { new_email } => plain(
                format!("Your {product} email address is about to change"),
                "Your email address is about to change",
                vec![
                    format!(
                        "Someone asked to move your account to {new_email}. The change happens \
                         once the link sent there is opened."
                    ),
                    not_you,
                ],
            ),
            Notice::PasswordChanged => plain(
                format!("Your {product} password was changed"),
                "Your password was changed",
                vec![
                    "The password of your account was just changed.".to_owned(),
                    not_you,
                ],
            ),
            Notice::MfaChanged { what } => plain(
                format!("Two-step sign-in changed on your {product} account"),
                "Two-step sign-in changed",
                vec![what.clone(), not_you],
            ),
            Notice::PasskeyChanged { what } => plain(
                format!("Your {product} passkeys changed"),
                "Your passkeys changed",
                vec![what.clone(), not_you],
            ),
            Notice::AccountLocked => plain(
                format!("Your {product} account was locked"),
                "Your account was locked for a while",
                vec![
                    "Too many failed sign-in attempts locked your account for 15 minutes."
                        .to_owned(),
                    "If these attempts were not yours, someone may be guessing your password; \
                     choosing a new one after the lock lapses is a good idea."
                        .to_owned(),
                ],
            ),
            Notice::Invitation { organization, link } => Wording {
                subject: format!("You are invited to {organization} on {product}"),
                heading: format!("Join {organization}"),
                paragraphs: vec![
                    format!(
                        "You were invited to join {organization}. Open the link below, sign in \
                         or create an account with this address, and accept. It works once, \
                         for 7 days."
                    ),
                    ignore,
                ],
                action: "Accept the invitation",
                link: Some(link.clone()),
            },
            Notice::NewSignIn { ip, user_agent } => plain(
                format!("New sign-in to your {product} account"),
                "A new device signed in",
                vec![
                    format!(
                        "Your account was just used from a device it had not seen before: {} \
                         from {}.",
                        user_agent.as_deref().unwrap_or("an unknown browser or app"),
                        ip.as_deref().unwrap_or("an unknown address"),
                    ),
                    not_you,
                ],
            ),
        }
    }
}

impl MailComposer for Templates {
    fn compose(&self, to: &str, notice: &Notice) -> Result<OutgoingMail, DomainError> {
        let wording = self.wording(notice);
        let rendering = |error: askama::Error| DomainError::caused("rendering mail", error);
        let text = TextMessage {
            heading: &wording.heading,
            paragraphs: &wording.paragraphs,
            action: wording.action,
            link: wording.link.as_deref(),
            product: &self.branding.product_name,
            support: self.branding.support_address.as_deref(),
        }
        .render()
        .map_err(rendering)?;
        let html = HtmlMessage {
            heading: &wording.heading,
            paragraphs: &wording.paragraphs,
            action: wording.action,
            link: wording.link.as_deref(),
            product: &self.branding.product_name,
            support: self.branding.support_address.as_deref(),
            logo: self.branding.logo_url.as_deref(),
        }
        .render()
        .map_err(rendering)?;
        Ok(OutgoingMail {
            id: uuid::Uuid::now_v7(),
            to: to.to_owned(),
            subject: wording.subject,
            text,
            html,
        })
    }
}

/// Why a transport could not be built.
#[derive(Debug, thiserror::Error)]
#[error("mail: {0}")]
pub struct TransportError(String);

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte.
    Tls,
    /// STARTTLS, required.
    StartTls,
    /// None (a local relay only).
    None,
}

/// An SMTP relay.
#[derive(Clone)]
pub struct SmtpSettings {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Connection security.
    pub security: Security,
    /// AUTH user and password, when the relay wants them.
    pub credentials: Option<(String, String)>,
    /// How long to wait for the relay.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The AUTH password must not reach a log through a debug print.
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// Delivers messages with lettre.
pub struct LettreMailer {
    from: Mailbox,
    transport: Transport,
}

impl std::fmt::Debug for LettreMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::File(..) => "file",
        };
        f.debug_struct("LettreMailer")
            .field("from", &self.from.to_string())
            .field("transport", &kind)
            .finish()
    }
}

fn parse_from(from: &str) -> Result<Mailbox, TransportError> {
    from.parse()
        .map_err(|error| TransportError(format!("mail.from {from:?} is not an address: {error}")))
}

impl LettreMailer {
    /// Sends through an SMTP relay, with pooled connections.
    pub fn smtp(from: &str, settings: &SmtpSettings) -> Result<Self, TransportError> {
        let failed = |error: lettre::transport::smtp::Error| {
            TransportError(format!("mail.smtp.host {}: {error}", settings.host))
        };
        let mut builder = match settings.security {
            Security::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host).map_err(failed)?
            }
            Security::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
                    .map_err(failed)?
            }
            Security::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.as_str())
            }
        };
        builder = builder
            .port(settings.port)
            .timeout(Some(settings.timeout))
            .pool_config(PoolConfig::new().max_size(4));
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            from: parse_from(from)?,
            transport: Transport::Smtp(builder.build()),
        })
    }

    /// Writes one `.eml` file per message under `dir` (the embedded mode).
    pub fn files(from: &str, dir: PathBuf) -> Result<Self, TransportError> {
        std::fs::create_dir_all(&dir)
            .map_err(|error| TransportError(format!("cannot create {}: {error}", dir.display())))?;
        Ok(Self {
            from: parse_from(from)?,
            transport: Transport::File(AsyncFileTransport::new(&dir), dir),
        })
    }

    fn message(&self, mail: &OutgoingMail) -> Result<Message, String> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|error| format!("recipient is not an address: {error}"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|error| format!("building the message: {error}"))
    }
}

#[async_trait::async_trait]
impl Mailer for LettreMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), String> {
        let message = self.message(mail)?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|error| error.to_string()),
            Transport::File(files, dir) => {
                let id = files
                    .send(message)
                    .await
                    .map_err(|error| error.to_string())?;
                // The embedded mode has no mail server: the log says where the message is, so
                // a developer can open it. Never the link itself: mailed links are live
                // credentials, and logs travel further than the mail directory.
                tracing::info!(
                    file = %dir.join(format!("{id}.eml")).display(),
                    subject = %mail.subject,
                    "mail written to the outbox directory"
                );
                Ok(())
            }
        }
    }
}

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How often the outbox is read when nothing wakes the worker.
    pub poll_interval: Duration,
    /// Messages claimed per round.
    pub batch: u64,
    /// How long a claim hides a message from other workers.
    pub lease: Duration,
    /// Delay after the first failure; it doubles with each further one.
    pub retry_base: Duration,
    /// The longest delay between attempts.
    pub retry_max: Duration,
    /// Attempts before a message is given up (kept in the table as `failed`).
    pub max_attempts: u32,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            batch: 20,
            lease: Duration::from_secs(120),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(15 * 60),
            max_attempts: 20,
        }
    }
}

impl WorkerSettings {
    /// The delay before attempt `attempts + 1`, after `attempts` failures.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.retry_base.saturating_mul(factor).min(self.retry_max)
    }
}

/// Drains the outbox: claims due messages, sends them, and reschedules failures.
#[derive(Debug, Clone)]
pub struct MailWorker {
    queue: Arc<dyn MailQueue>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    settings: WorkerSettings,
}

impl MailWorker {
    /// A worker over `queue` sending with `mailer`.
    pub fn new(
        queue: Arc<dyn MailQueue>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            queue,
            mailer,
            clock,
            settings,
        }
    }

    /// Sends what is due now; returns how many messages were delivered.
    pub async fn run_once(&self) -> Result<usize, DomainError> {
        let now = self.clock.now();
        let due = self
            .queue
            .claim(
                self.settings.batch,
                now,
                now + castellan_domain::secret::chrono_duration(self.settings.lease),
            )
            .await?;
        let mut delivered = 0;
        for queued in due {
            match self.mailer.send(&queued.mail).await {
                Ok(()) => {
                    self.queue.sent(queued.mail.id, self.clock.now()).await?;
                    delivered += 1;
                }
                Err(error) => {
                    let attempts = queued.attempts + 1;
                    let retry_at = (attempts < self.settings.max_attempts).then(|| {
                        self.clock.now()
                            + castellan_domain::secret::chrono_duration(
                                self.settings.backoff(attempts),
                            )
                    });
                    tracing::warn!(
                        id = %queued.mail.id,
                        attempts,
                        gave_up = retry_at.is_none(),
                        %error,
                        "mail not delivered"
                    );
                    self.queue
                        .failed(queued.mail.id, attempts, retry_at, &error)
                        .await?;
                }
            }
        }
        Ok(delivered)
    }

    /// Runs until `shutdown` resolves, reading the outbox every poll interval.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(error) = self.run_once().await {
                tracing::warn!(%error, "the mail outbox could not be read");
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let settings = WorkerSettings::default();
        assert_eq!(settings.backoff(1), Duration::from_secs(5));
        assert_eq!(settings.backoff(2), Duration::from_secs(10));
        assert_eq!(settings.backoff(4), Duration::from_secs(40));
        assert_eq!(settings.backoff(30), Duration::from_secs(900));
    }

    #[test]
    fn messages_carry_the_link_in_text_and_html() {
        let templates = Templates::new(Branding {
            product_name: "Castellan".to_owned(),
            logo_url: None,
            support_address: Some("help@example.com".to_owned()),
        });
        let link = "https://id.example.com/reset-password?token=abc".to_owned();
        let mail = templates
            .compose(
                "jane@example.com",
                &Notice::PasswordReset { link: link.clone() },
            )
            .unwrap();
        assert_eq!(mail.subject, "Reset your Castellan password");
        assert!(mail.text.contains(&link));
        assert!(mail.html.contains(&link));
        assert!(mail.text.contains("help@example.com"));
        let notice = templates
            .compose(
                "jane@example.com",
                &Notice::NewSignIn {
                    ip: Some("203.0.113.9".to_owned()),
                    user_agent: Some("<script>".to_owned()),
                },
            )
            .unwrap();
        assert!(!notice.html.contains("<script>"));
        assert!(notice.text.contains("<script>"), "text bodies are not HTML");
    }

    /// Collects what the log writes, for the test below.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_file_transport_logs_where_a_message_is_never_its_link() {
        let dir = std::env::temp_dir().join(format!("castellan-mail-log-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mailer = LettreMailer::files("Castellan <no-reply@example.com>", dir.clone()).unwrap();
        let link = "http://127.0.0.1:8000/reset-password?token=live-secret-value";
        let mail = OutgoingMail {
            id: uuid::Uuid::new_v4(),
            to: "jane@example.com".to_owned(),
            subject: "Reset your password".to_owned(),
            text: format!("Open {link} within the hour."),
            html: format!("<a href=\"{link}\">Reset</a>"),
        };
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        {
            let _guard = tracing::subscriber::set_default(subscriber);
            mailer.send(&mail).await.unwrap();
        }
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let written = std::fs::read_dir(&dir).unwrap().count();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(written, 1, "the message is in the directory");
        assert!(
            log.contains("mail written to the outbox directory"),
            "{log}"
        );
        assert!(log.contains(".eml"), "the log names the file: {log}");
        assert!(
            !log.contains("live-secret-value"),
            "no link in the log: {log}"
        );
    }
}
