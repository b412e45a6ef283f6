//! Second factors for Castellan: TOTP enrolment with an authenticator app, single-use backup
//! codes, and the second step of a sign-in. Codes are checked with one step of clock skew and
//! accepted once; wrong codes count toward the account's lockout like wrong passwords.

pub mod codes;

use std::sync::Arc;

use castellan_domain::{
    AuditAction, AuditEvent, AuthMethod, Authenticated, Clock, DomainError, EventSink, MfaMethod,
    MfaRepository, OneTimeCode, PasskeyRepository, Password, Proof, RandomSource, RequestContext,
    SecretSealer, SignInService, TotpFactor, User, UserId, UserRepository,
};
use chrono::{DateTime, Utc};

pub use codes::Provisioning;

/// The adapters the MFA service works through.
#[derive(Debug, Clone)]
pub struct MfaPorts {
    /// TOTP factors and backup codes.
    pub factors: Arc<dyn MfaRepository>,
    /// Passkeys (counted in the status).
    pub passkeys: Arc<dyn PasskeyRepository>,
    /// Seals TOTP secrets at rest.
    pub sealer: Arc<dyn SecretSealer>,
    /// Users, for the one a pending sign-in stands for.
    pub users: Arc<dyn UserRepository>,
    /// The audit log.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Random tokens and codes.
    pub random: Arc<dyn RandomSource>,
}

/// A user's second factors, as `GET /api/v1/mfa` reports them.
#[derive(Debug, Clone)]
pub struct MfaStatus {
    /// A confirmed TOTP factor exists: password sign-ins take a second step.
    pub enabled: bool,
    /// When TOTP was confirmed.
    pub totp_confirmed_at: Option<DateTime<Utc>>,
    /// An enrolment was begun and not confirmed.
    pub totp_pending: bool,
    /// Unused backup codes.
    pub backup_codes_remaining: u32,
    /// Registered passkeys.
    pub passkeys: usize,
}

impl MfaStatus {
    /// What the second step of a sign-in accepts, as the sign-in flow's factor directory
    /// reports it: nothing until TOTP is on, then TOTP, backup codes while any are left, and
    /// passkeys when there are any.
    pub fn methods(&self) -> Vec<MfaMethod> {
        if !self.enabled {
            return Vec::new();
        }
        let mut methods = vec![MfaMethod::Totp];
        if self.backup_codes_remaining > 0 {
            methods.push(MfaMethod::BackupCode);
        }
        if self.passkeys > 0 {
            methods.push(MfaMethod::Webauthn);
        }
        methods
    }
}

/// How to prove it is really the user before turning MFA off.
#[derive(Clone, Debug)]
pub enum Reauthentication {
    /// The account password.
    Password(Password),
    /// A current TOTP code or an unused backup code.
    Code(OneTimeCode),
}

/// The MFA use cases.
#[derive(Debug, Clone)]
pub struct MfaService {
    signin: SignInService,
    ports: MfaPorts,
    issuer_name: String,
}

impl MfaService {
    /// A service that answers the second steps of `signin`'s flow and counts wrong codes
    /// toward its lockout; `issuer_name` labels the factor in authenticator apps.
    pub fn new(signin: SignInService, ports: MfaPorts, issuer_name: impl Into<String>) -> Self {
        Self {
            signin,
            ports,
            issuer_name: issuer_name.into(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.ports.clock.now()
    }

    async fn record(&self, event: AuditEvent) -> Result<(), DomainError> {
        self.ports.events.record(event).await
    }

    fn open_secret(&self, factor: &TotpFactor) -> Result<Vec<u8>, DomainError> {
        self.ports
            .sealer
            .open(&factor.sealed_secret, factor.user_id.to_string().as_bytes())
    }

    /// The user's second factors.
    pub async fn status(&self, user: UserId) -> Result<MfaStatus, DomainError> {
        let totp = self.ports.factors.totp(user).await?;
        let confirmed = totp.as_ref().and_then(|factor| factor.confirmed_at);
        Ok(MfaStatus {
            enabled: confirmed.is_some(),
            totp_confirmed_at: confirmed,
            totp_pending: totp.is_some() && confirmed.is_none(),
            backup_codes_remaining: self.ports.factors.backup_codes_left(user).await?,
            passkeys: self.ports.passkeys.list(user).await?.len(),
        })
    }

    /// Begins TOTP enrolment: a new secret, pending until [`Self::confirm_totp`]. A second call
    /// before confirming replaces the secret; with TOTP already on it is a conflict.
    pub async fn begin_totp(&self, user: &User) -> Result<Provisioning, DomainError> {
        if let Some(existing) = self.ports.factors.totp(user.id).await?
            && existing.confirmed_at.is_some()
        {
            return Err(DomainError::Conflict("TOTP factor"));
        }
        let secret = codes::new_secret(self.ports.random.as_ref());
        let provisioning = codes::provisioning(&secret, &self.issuer_name, user.email.as_str())?;
        let sealed = self
            .ports
            .sealer
            .seal(&secret, user.id.to_string().as_bytes())?;
        self.ports
            .factors
            .put_totp(&TotpFactor {
                user_id: user.id,
                sealed_secret: sealed,
                confirmed_at: None,
                last_used_step: None,
                created_at: self.now(),
            })
            .await?;
        Ok(provisioning)
    }

    /// Confirms enrolment with a code from the app; MFA is on from here. Returns the first set
    /// of backup codes (shown once).
    pub async fn confirm_totp(
        &self,
        user: &User,
        code: &OneTimeCode,
        context: &RequestContext,
    ) -> Result<Vec<String>, DomainError> {
        self.signin
            .lockout()
            .ensure_unlocked(user.email.as_str(), context)
            .await?;
        let factor = match self.ports.factors.totp(user.id).await? {
            Some(factor) if factor.confirmed_at.is_none() => factor,
            Some(_) => return Err(DomainError::Conflict("TOTP factor")),
            None => return Err(DomainError::NotFound("pending TOTP enrolment")),
        };
        let secret = self.open_secret(&factor)?;
        let Some(step) = codes::matching_step(&secret, code.expose(), self.now().timestamp())
        else {
            return Err(self.code_failed(user, context).await);
        };
        if !self
            .ports
            .factors
            .confirm_totp(user.id, step, self.now())
            .await?
        {
            return Err(DomainError::Conflict("TOTP factor"));
        }
        let backup_codes = self.store_backup_codes(user.id).await?;
        self.record(
            AuditEvent::new(AuditAction::MfaEnabled, self.now(), context)
                .by(user.id)
                .on(user.id)
                .note("totp"),
        )
        .await?;
        Ok(backup_codes)
    }

    async fn store_backup_codes(&self, user: UserId) -> Result<Vec<String>, DomainError> {
        let fresh = codes::new_backup_codes(self.ports.random.as_ref());
        let hashes: Vec<String> = fresh
            .iter()
            .map(|code| codes::backup_code_hash(user, code))
            .collect();
        self.ports
            .factors
            .replace_backup_codes(user, &hashes, self.now())
            .await?;
        Ok(fresh)
    }

    /// Replaces the backup codes with a new set (shown once). MFA must be on.
    pub async fn regenerate_backup_codes(
        &self,
        user: &User,
        context: &RequestContext,
    ) -> Result<Vec<String>, DomainError> {
        let enabled = self
            .ports
            .factors
            .totp(user.id)
            .await?
            .is_some_and(|factor| factor.confirmed_at.is_some());
        if !enabled {
            return Err(DomainError::invalid(
                "mfa",
                "turn on TOTP first; backup codes come with it",
            ));
        }
        let fresh = self.store_backup_codes(user.id).await?;
        self.record(
            AuditEvent::new(AuditAction::BackupCodesRegenerated, self.now(), context)
                .by(user.id)
                .on(user.id),
        )
        .await?;
        Ok(fresh)
    }

    /// Turns MFA off (TOTP and backup codes), after the user proves it is them.
    pub async fn disable(
        &self,
        user: &User,
        proof: Reauthentication,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        match proof {
            Reauthentication::Password(password) => {
                self.signin
                    .credentials()
                    .check(user.email.as_str(), &password, context)
                    .await?;
            }
            Reauthentication::Code(code) => {
                self.signin
                    .lockout()
                    .ensure_unlocked(user.email.as_str(), context)
                    .await?;
                if !self.check_code(user.id, &code, context).await? {
                    return Err(self.code_failed(user, context).await);
                }
            }
        }
        if !self.ports.factors.delete_factors(user.id).await? {
            return Err(DomainError::NotFound("TOTP factor"));
        }
        self.record(
            AuditEvent::new(AuditAction::MfaDisabled, self.now(), context)
                .by(user.id)
                .on(user.id),
        )
        .await
    }

    /// Checks a TOTP code (each step once) or a backup code (each code once) and uses it up.
    async fn check_code(
        &self,
        user: UserId,
        code: &OneTimeCode,
        context: &RequestContext,
    ) -> Result<bool, DomainError> {
        if codes::is_totp_code(code.expose()) {
            let Some(factor) = self
                .ports
                .factors
                .totp(user)
                .await?
                .filter(|factor| factor.confirmed_at.is_some())
            else {
                return Ok(false);
            };
            let secret = self.open_secret(&factor)?;
            return match codes::matching_step(&secret, code.expose(), self.now().timestamp()) {
                Some(step) => self.ports.factors.use_totp_step(user, step).await,
                None => Ok(false),
            };
        }
        let hash = codes::backup_code_hash(user, code.expose());
        if !self
            .ports
            .factors
            .use_backup_code(user, &hash, self.now())
            .await?
        {
            return Ok(false);
        }
        let left = self.ports.factors.backup_codes_left(user).await?;
        self.record(
            AuditEvent::new(AuditAction::BackupCodeUsed, self.now(), context)
                .by(user)
                .on(user)
                .note(format!("{left} left")),
        )
        .await?;
        Ok(true)
    }

    /// Counts a wrong code (audit and lockout) and returns the error to answer with.
    async fn code_failed(&self, user: &User, context: &RequestContext) -> DomainError {
        let audited = self
            .record(
                AuditEvent::new(AuditAction::MfaFailed, self.now(), context)
                    .on(user.id)
                    .failed("wrong or reused code"),
            )
            .await;
        if let Err(error) = audited {
            return error;
        }
        self.signin
            .lockout()
            .second_factor_failed(user.email.as_str(), context)
            .await
    }

    /// The user a pending sign-in stands for.
    async fn pending_user(
        &self,
        token: &OneTimeCode,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let pending = self.signin.pending(token, context).await?;
        self.ports
            .users
            .by_id(pending.user_id)
            .await?
            .ok_or(DomainError::InvalidToken)
    }

    /// Answers a sign-in's second step with a TOTP or backup code; the proof goes on to the
    /// sign-in flow, which finishes the sign-in.
    pub async fn complete(
        &self,
        mfa_token: &OneTimeCode,
        code: &OneTimeCode,
        context: &RequestContext,
    ) -> Result<Proof, DomainError> {
        let user = self.pending_user(mfa_token, context).await?;
        if !self.check_code(user.id, code, context).await? {
            self.signin.second_step_failed(mfa_token).await?;
            return Err(self.code_failed(&user, context).await);
        }
        Ok(Proof::Second {
            mfa_token: mfa_token.clone(),
            user,
            method: AuthMethod::OneTimeCode,
        })
    }

    /// Begins enrolment during a sign-in, for an account that must have a second factor and
    /// has none: a pending TOTP factor, and a challenge standing for the passed first factor.
    pub async fn begin_enrolment_sign_in(
        &self,
        authenticated: &Authenticated,
        context: &RequestContext,
    ) -> Result<(OneTimeCode, Provisioning), DomainError> {
        let provisioning = self.begin_totp(authenticated.user()).await?;
        let challenge = self
            .signin
            .enrolment_challenge(authenticated, context)
            .await?;
        Ok((challenge.token, provisioning))
    }

    /// Finishes enrolment during a sign-in with the first code: MFA is on, and the proof goes
    /// on to the sign-in flow. Returns it with the backup codes (shown once).
    pub async fn finish_enrolment_sign_in(
        &self,
        token: &OneTimeCode,
        code: &OneTimeCode,
        context: &RequestContext,
    ) -> Result<(Proof, Vec<String>), DomainError> {
        let user = self.pending_user(token, context).await?;
        let backup_codes = match self.confirm_totp(&user, code, context).await {
            Ok(codes) => codes,
            Err(error) => {
                self.signin.second_step_failed(token).await?;
                return Err(error);
            }
        };
        let proof = Proof::Second {
            mfa_token: token.clone(),
            user,
            method: AuthMethod::OneTimeCode,
        };
        Ok((proof, backup_codes))
    }
}
