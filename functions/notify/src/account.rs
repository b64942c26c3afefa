//! Account e-mails: a password-reset or verification link, issued here so the request path never learns whether an address has an account.

use ob_core::apps::{self, App, AppState};
use ob_core::audit::{self, Actor, NewEntry};
use ob_core::auth_tokens::{self, Owner, Purpose};
use ob_core::notify::{AccountMail, Variables, links, suppression};
use ob_core::realtime::Push;
use ob_core::users::{self, User};

use crate::Worker;
use crate::send::{Failure, Tag};

/// The app, when it exists and is active (a suspended app sends nothing).
pub(crate) async fn active_app<P>(
    worker: &Worker<P>,
    app_id: &str,
) -> Result<Option<App>, Failure> {
    Ok(apps::get(&worker.store, app_id)
        .await?
        .filter(|app| app.state == AppState::Active))
}

/// Someone asked to reset the password of `email`: a link goes to the
/// account's address if there is an account, and nothing happens otherwise.
pub async fn password_reset<P: Push>(
    worker: &Worker<P>,
    app_id: &str,
    email: &str,
) -> Result<(), Failure> {
    let Some(app) = active_app(worker, app_id).await? else {
        tracing::info!(
            app_id,
            "password reset for a missing or suspended app: nothing sent"
        );
        return Ok(());
    };
    let user = users::find_by_email(&worker.store, app_id, email)
        .await?
        .map(|record| record.user)
        .filter(|user| !user.disabled);
    let Some(user) = user else {
        tracing::info!(
            app_id,
            "password reset for an address without an active account: nothing sent"
        );
        return Ok(());
    };
    send(
        worker,
        &app,
        &user,
        AccountMail::PasswordReset,
        Actor::Anonymous,
    )
    .await
}

/// A verification link for a user found by id or by address; nothing when
/// the user is gone, disabled or already verified.
pub async fn email_verification<P: Push>(
    worker: &Worker<P>,
    app_id: &str,
    user_id: Option<&str>,
    email: Option<&str>,
) -> Result<(), Failure> {
    let Some(app) = active_app(worker, app_id).await? else {
        return Ok(());
    };
    let record = match (user_id, email) {
        (Some(id), _) => users::get(&worker.store, app_id, id).await?,
        (None, Some(address)) => users::find_by_email(&worker.store, app_id, address).await?,
        (None, None) => None,
    };
    let Some(user) = record
        .map(|r| r.user)
        .filter(|u| !u.disabled && !u.email_verified)
    else {
        tracing::info!(
            app_id,
            "no unverified active account to verify: nothing sent"
        );
        return Ok(());
    };
    let actor = Actor::User(user.user_id.clone());
    send(worker, &app, &user, AccountMail::EmailVerification, actor).await
}

async fn send<P: Push>(
    worker: &Worker<P>,
    app: &App,
    user: &User,
    mail: AccountMail,
    actor: Actor,
) -> Result<(), Failure> {
    let store = &worker.store;
    if suppression::find(store, &app.app_id, &user.email)
        .await?
        .is_some()
    {
        tracing::info!(app_id = %app.app_id, kind = mail.template_name(), "address is suppressed: nothing sent");
        return Ok(());
    }
    let config = ob_core::config::get(store, &app.app_id).await?.body;
    let s = &worker.settings;
    let (purpose, ttl, page, action) = match mail {
        AccountMail::PasswordReset => (
            Purpose::PasswordReset,
            s.password_reset_ttl_secs,
            config
                .auth
                .password_reset_url
                .as_deref()
                .unwrap_or(&s.password_reset_url),
            "auth.password_reset.email",
        ),
        AccountMail::EmailVerification => (
            Purpose::EmailVerification,
            s.email_verification_ttl_secs,
            config
                .auth
                .email_verification_url
                .as_deref()
                .unwrap_or(&s.email_verification_url),
            "auth.verify_email.email",
        ),
    };
    let template = config
        .notifications
        .as_ref()
        .and_then(|n| n.template(mail.template_name()))
        .cloned()
        .unwrap_or_else(|| mail.default_template());
    let owner = Owner {
        user_id: user.user_id.clone(),
        email: user.email.clone(),
    };
    let issued = auth_tokens::issue(store, purpose, &app.app_id, &owner, ttl).await?;
    let variables: Variables = [
        ("appName", app.name.clone()),
        ("email", user.email.clone()),
        ("link", links::with_token(page, &issued.token)),
        ("expiresInMinutes", (ttl / 60).to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // Overrides are checked against these variables when stored, so this
    // fails only for a template stored before that check: never retried.
    let content = template.render(&variables).map_err(|err| {
        Failure::Permanent(format!(
            "the app's {} template: {err}",
            mail.template_name()
        ))
    })?;
    let tags = [
        Tag {
            name: "appId",
            value: &app.app_id,
        },
        Tag {
            name: "kind",
            value: mail.template_name(),
        },
    ];
    let message_id = worker.mailer.send(&user.email, &content, &tags).await?;
    tracing::info!(app_id = %app.app_id, kind = mail.template_name(), provider_message_id = %message_id, "account e-mail sent");
    let entry = NewEntry {
        app_id: app.app_id.clone(),
        actor,
        action: action.to_owned(),
        target: format!("user:{}", user.user_id),
        changed_fields: Vec::new(),
        origin: Default::default(),
    };
    if let Err(err) = audit::record(store, entry, s.audit_retention_days).await {
        // The e-mail is out; a lost audit line must not send it again.
        tracing::error!(error = %err, action, "could not write audit entry");
    }
    Ok(())
}
