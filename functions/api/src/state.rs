//! Shared state of the HTTP API: storage, token signer, stage settings and a short-lived per-app cache.

use std::sync::Arc;
use std::time::Duration;

use ob_core::cache::BoundedCache;
use ob_core::deferred::Deferred;
use ob_core::env::{self, FunctionEnv};
use ob_core::files::FileStore;
use ob_core::notify::NotifyQueue;
use ob_core::signing::{Keyring, SigningKeys};
use ob_core::throttle::Policy;
use ob_core::webhooks::queue::WebhookQueue;
use ob_core::{Error, Result, Store, Tables};
use ob_metrics::Metrics;

use crate::limits::{Limiter, RateLimits};

/// The lowest bcrypt cost outside the `local` stage.
pub const MIN_BCRYPT_COST: u32 = 10;

/// How long an app's state, origins and config are reused before being read
/// again: the longest a suspended app's reads go on being served by a warm
/// instance (writes check the app's state in their own transaction).
pub const APP_CACHE_TTL: Duration = Duration::from_secs(30);
/// Most apps one instance remembers; only apps whose valid key was presented
/// are ever looked up, so this holds every app of a normal stage.
const APP_CACHE_ENTRIES: usize = 1024;
/// How long a verified API key is reused (by the hash of its secret): the
/// longest a revoked key's reads go on being served by a warm instance
/// (writes check the key in their own transaction).
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(30);
/// Most keys one instance remembers; only keys that verified are kept.
const KEY_CACHE_ENTRIES: usize = 1024;
/// How long an instance remembers that it registered an app's resource.
const RESOURCE_CACHE_TTL: Duration = Duration::from_secs(600);
const RESOURCE_CACHE_ENTRIES: usize = 4096;

/// Stage settings the API runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Stage name (shown by `/health`).
    pub stage: String,
    /// `iss` of access tokens; every function of a stage must agree on it.
    pub issuer: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// Absolute lifetime of a session from its login (refreshes end then).
    pub session_max_secs: i64,
    pub bcrypt_cost: u32,
    /// Browser origins allowed for every app (the stage's `cors.allowedOrigins`).
    pub stage_origins: Vec<String>,
    pub audit_retention_days: u32,
    pub login_throttle: Policy,
    /// Largest accepted request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// The stage's cap on one file upload (each app's `uploads.maxBytes` is capped by it).
    pub max_upload_bytes: u64,
    /// Lifetime of presigned upload and download URLs.
    pub url_expiry_secs: u64,
    /// Whether apps may send SMS (`notifications.sms`).
    pub sms_enabled: bool,
    /// What one app may send per UTC day through `POST /notify`.
    pub email_daily_quota: u32,
    pub sms_daily_quota: u32,
    /// Per-minute request limits of an app and of each client address, unless
    /// the app's config sets its own.
    pub request_limits: RateLimits,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            stage: "local".into(),
            issuer: issuer_for("local"),
            access_ttl_secs: 900,
            refresh_ttl_secs: 30 * 86_400,
            session_max_secs: 90 * 86_400,
            bcrypt_cost: 10,
            stage_origins: Vec::new(),
            audit_retention_days: 30,
            login_throttle: Policy::default(),
            max_body_bytes: 64 * 1024,
            max_upload_bytes: ob_core::config::DEFAULT_UPLOAD_BYTES,
            url_expiry_secs: 300,
            sms_enabled: false,
            email_daily_quota: 1000,
            sms_daily_quota: 100,
            request_limits: RateLimits::default(),
        }
    }
}

/// What a Lambda publishes: its stage's metrics, as EMF lines on standard output.
pub fn function_metrics(env: &FunctionEnv) -> Metrics {
    let detail = if env.flag(&env::METRICS_PER_APP_ROUTES) == Some(true) {
        ob_metrics::HttpDetail::AppRoutes
    } else {
        ob_metrics::HttpDetail::AppTotals
    };
    let stage = env.text(&env::STAGE).unwrap_or("local");
    Metrics::new(stage, detail, Arc::new(ob_metrics::Stdout))
}

/// The files function's bucket, from its `FILES_BUCKET`, addressed and signed with `sdk`'s settings once per cold start.
pub fn file_store_from_env(sdk: &aws_config::SdkConfig, env: &FunctionEnv) -> Result<FileStore> {
    let bucket = env
        .required(&env::FILES_BUCKET)
        .map_err(|err| Error::Internal(err.to_string()))?;
    FileStore::new(sdk, bucket)
}

/// The token issuer of a stage.
pub fn issuer_for(stage: &str) -> String {
    format!("one-backend:{stage}")
}

impl Settings {
    /// The settings a function's checked environment carries (see
    /// `ob_core::functions`). A variable the function does not declare keeps
    /// its default: the admin function, which never hashes passwords, reads no
    /// `BCRYPT_COST`.
    pub fn from_function_env(env: &FunctionEnv) -> Self {
        let mut settings = Self::default();
        if let Some(stage) = env.text(&env::STAGE) {
            settings.issuer = issuer_for(stage);
            settings.stage = stage.to_owned();
        }
        let set = |target: &mut i64, var| {
            if let Some(v) = env.integer(var) {
                *target = v;
            }
        };
        set(
            &mut settings.access_ttl_secs,
            &env::ACCESS_TOKEN_TTL_SECONDS,
        );
        set(
            &mut settings.refresh_ttl_secs,
            &env::REFRESH_TOKEN_TTL_SECONDS,
        );
        set(&mut settings.session_max_secs, &env::SESSION_MAX_SECONDS);
        if let Some(v) = env.integer(&env::BCRYPT_COST) {
            settings.bcrypt_cost = v;
        }
        if let Some(v) = env.integer(&env::APP_REQUESTS_PER_MINUTE) {
            settings.request_limits.per_app = v;
        }
        if let Some(v) = env.integer(&env::CLIENT_REQUESTS_PER_MINUTE) {
            settings.request_limits.per_client = v;
        }
        if let Some(v) = env.integer(&env::AUDIT_RETENTION_DAYS) {
            settings.audit_retention_days = v;
        }
        if let Some(v) = env.integer(&env::MAX_UPLOAD_BYTES) {
            settings.max_upload_bytes = v;
        }
        if let Some(v) = env.integer(&env::URL_EXPIRY_SECONDS) {
            settings.url_expiry_secs = v;
        }
        if let Some(origins) = env.list(&env::CORS_ORIGINS) {
            settings.stage_origins = origins;
        }
        if let Some(on) = env.flag(&env::SMS_ENABLED) {
            settings.sms_enabled = on;
        }
        if let Some(v) = env.integer(&env::EMAIL_DAILY_QUOTA) {
            settings.email_daily_quota = v;
        }
        if let Some(v) = env.integer(&env::SMS_DAILY_QUOTA) {
            settings.sms_daily_quota = v;
        }
        settings
    }
}

/// What the API remembers about an app for `APP_CACHE_TTL`.
#[derive(Debug, Clone)]
pub(crate) struct AppFacts {
    pub active: bool,
    /// Registered origins plus the config's `allowedOrigins`.
    pub origins: Vec<String>,
    /// What the app's config says needs a verified e-mail address.
    pub require_verified: ob_core::config::RequireVerifiedEmail,
    /// The app's request limits (its config's, else the stage's).
    pub limits: RateLimits,
    /// The config's indexed fields per resource.
    pub indexed_fields: std::collections::BTreeMap<String, Vec<String>>,
    /// The config's upload limits.
    pub uploads: ob_core::config::UploadLimits,
}

/// The AWS services besides DynamoDB a host may be given.
#[derive(Debug, Clone, Default)]
pub struct Services {
    /// The files bucket (file routes).
    pub files: Option<FileStore>,
    /// The notify queue (account e-mails and `POST /notify`).
    pub notify: Option<NotifyQueue>,
    /// The webhook queue (auth events for the app's webhooks).
    pub webhooks: Option<WebhookQueue>,
}

/// Everything a handler needs; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    /// The files bucket, when the host serves file routes.
    files: Option<FileStore>,
    /// The notify queue, when the host sends account e-mails or notifications.
    notify: Option<NotifyQueue>,
    /// The webhook queue, when the host emits auth events.
    webhooks: Option<WebhookQueue>,
    /// The token signer and the refresh-successor key (a Lambda reads them on first use).
    keys: Keyring,
    settings: Settings,
    /// Where request, sign-in and realtime metrics go (nowhere unless a host says).
    metrics: Metrics,
    apps: BoundedCache<String, AppFacts>,
    /// Verified keys by the SHA-256 of their secret.
    api_keys: BoundedCache<String, ob_core::api_keys::ApiKey>,
    /// Keys whose use this instance stamped within the minute.
    stamped: BoundedCache<String, ()>,
    /// (app, resource) pairs whose registry entry this instance wrote.
    resources: BoundedCache<(String, String), ()>,
    limiter: Limiter,
    /// Work the answer does not wait for: the counter syncs, the signing key's read-ahead (spawned at once here;
    /// after each answer on Lambda).
    deferred: Deferred,
    /// A bcrypt hash at the stage's cost, verified against when an e-mail is
    /// unknown so that unknown and known e-mails take the same time.
    dummy_hash: tokio::sync::OnceCell<String>,
}

impl AppState {
    /// For `obctl dev` and tests: an explicit store, signing key (≥ 32 bytes) and settings.
    pub fn new(store: Store, signing_key: &[u8], settings: Settings) -> Result<Self> {
        Self::with_files(store, None, signing_key, settings)
    }

    /// Like `new`, with the files bucket (`None`: file routes answer 500 "not configured").
    pub fn with_files(
        store: Store,
        files: Option<FileStore>,
        signing_key: &[u8],
        settings: Settings,
    ) -> Result<Self> {
        let services = Services {
            files,
            ..Services::default()
        };
        Self::with_services(store, services, signing_key, settings)
    }

    /// Like `new`, with the services a host was given.
    pub fn with_services(
        store: Store,
        services: Services,
        signing_key: &[u8],
        settings: Settings,
    ) -> Result<Self> {
        let keys = Keyring::ready(signing_key, &settings.issuer)?;
        Ok(Self::with_keys(store, services, keys, settings))
    }

    fn with_keys(store: Store, services: Services, keys: Keyring, settings: Settings) -> Self {
        let Services {
            files,
            notify,
            webhooks,
        } = services;
        Self(Arc::new(Inner {
            store,
            files,
            notify,
            webhooks,
            keys,
            settings,
            metrics: Metrics::discard(),
            apps: BoundedCache::new(APP_CACHE_ENTRIES, APP_CACHE_TTL),
            api_keys: BoundedCache::new(KEY_CACHE_ENTRIES, KEY_CACHE_TTL),
            stamped: BoundedCache::new(
                KEY_CACHE_ENTRIES,
                Duration::from_secs(ob_core::api_keys::LAST_USED_GRANULARITY_SECS as u64),
            ),
            resources: BoundedCache::new(RESOURCE_CACHE_ENTRIES, RESOURCE_CACHE_TTL),
            limiter: Limiter::default(),
            deferred: Deferred::spawned(),
            dummy_hash: tokio::sync::OnceCell::new(),
        }))
    }

    /// For the Lambdas: tables and settings from the function's checked environment; the signing key is read from
    /// Secrets Manager once, by the first request that needs it or else after the first answer (`Keyring::preload`
    /// on [`AppState::deferred`], which is queued: the function's runtime runs it after each answer), so neither
    /// the cold start nor a first request without a token waits for it. Call it within the Tokio runtime.
    pub fn from_function_env(sdk: &aws_config::SdkConfig, env: &FunctionEnv) -> Result<Self> {
        let settings = Settings::from_function_env(env);
        // `obctl` refuses such a stage file; a hand-edited function is refused here.
        if settings.stage != "local" && settings.bcrypt_cost < MIN_BCRYPT_COST {
            return Err(Error::Internal(format!(
                "BCRYPT_COST {} is below {MIN_BCRYPT_COST}, allowed only on the local stage",
                settings.bcrypt_cost
            )));
        }
        let keys = Keyring::loaded_by(&settings.issuer, crate::signing_key::loader(sdk, env)?);
        let deferred = Deferred::queued();
        keys.preload(&deferred);
        let store = Store::new(
            aws_sdk_dynamodb::Client::new(sdk),
            Tables::from_function_env(env),
        );
        // Only the functions that need it are given the queue; one client per cold start.
        let services = Services {
            files: None,
            notify: env
                .queue(&ob_core::queues::NOTIFY)
                .map(|url| NotifyQueue::new(aws_sdk_sqs::Client::new(sdk), url)),
            webhooks: env
                .queue(&ob_core::queues::WEBHOOK_DELIVERIES)
                .map(|url| WebhookQueue::new(aws_sdk_sqs::Client::new(sdk), url)),
        };
        let mut state = Self::with_keys(store, services, keys, settings);
        if let Some(inner) = Arc::get_mut(&mut state.0) {
            inner.deferred = deferred;
        }
        Ok(state.with_metrics(function_metrics(env)))
    }

    /// Serves file routes from `files` (the files function). Call it on a freshly built state, before it is shared.
    #[must_use]
    pub fn with_file_store(mut self, files: FileStore) -> Self {
        match Arc::get_mut(&mut self.0) {
            Some(inner) => inner.files = Some(files),
            None => tracing::error!(
                "file store set on a shared AppState; file routes stay unconfigured"
            ),
        }
        self
    }

    /// Publishes metrics to `metrics` (the Lambdas: standard output; `obctl dev`:
    /// its local registry). Call it on a freshly built state, before it is shared.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        match Arc::get_mut(&mut self.0) {
            Some(inner) => inner.metrics = metrics,
            None => tracing::error!("metrics set on a shared AppState; keeping the previous sink"),
        }
        self
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Where work the answer does not wait for goes (the host runs it: see [`Deferred`]).
    pub fn deferred(&self) -> &Deferred {
        &self.0.deferred
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// The files bucket; an error when this host was not given one.
    pub fn files(&self) -> Result<&FileStore> {
        self.0.files.as_ref().ok_or_else(|| {
            Error::Internal("file storage is not configured (FILES_BUCKET unset)".into())
        })
    }

    /// The notify queue; an error when this host was not given one.
    pub fn notify_queue(&self) -> Result<&NotifyQueue> {
        self.0.notify.as_ref().ok_or_else(|| {
            Error::Internal("the notify queue is not configured (NOTIFY_QUEUE_URL unset)".into())
        })
    }

    /// The token signer and the refresh-successor key, read first if they were not yet.
    pub(crate) async fn keys(&self) -> Result<Arc<SigningKeys>> {
        self.0.keys.get().await
    }

    /// What `/auth/refresh` needs: lifetimes and the successor key.
    pub(crate) fn refresh_policy<'a>(
        &self,
        keys: &'a SigningKeys,
    ) -> ob_core::sessions::RefreshPolicy<'a> {
        ob_core::sessions::RefreshPolicy {
            ttl_secs: self.0.settings.refresh_ttl_secs,
            max_session_secs: self.0.settings.session_max_secs,
            successor_key: &keys.successor_key,
        }
    }

    /// A bcrypt hash to verify against when no user matched.
    pub(crate) async fn dummy_hash(&self) -> Result<&str> {
        let cost = self.0.settings.bcrypt_cost;
        self.0
            .dummy_hash
            .get_or_try_init(|| ob_core::passwords::hash("not a real password", cost))
            .await
            .map(String::as_str)
    }

    /// An app's state and origins, read at most once a minute per app.
    pub(crate) async fn app_facts(&self, app_id: &str) -> Result<AppFacts> {
        if let Some(facts) = self.0.apps.get(&app_id.to_owned()) {
            return Ok(facts);
        }
        let (app, config) = tokio::try_join!(
            ob_core::apps::get(&self.0.store, app_id),
            ob_core::config::get_system(&self.0.store, app_id)
        )?;
        let stage = self.0.settings.request_limits;
        let own = config.body.limits;
        // The config's `limits` (ob_core::config::RequestLimits) override the stage's.
        let limits = RateLimits {
            per_app: own.requests_per_minute.unwrap_or(stage.per_app),
            per_client: own
                .requests_per_minute_per_client
                .unwrap_or(stage.per_client),
        };
        let body = config.body;
        let facts = match app {
            Some(app) => AppFacts {
                active: app.state == ob_core::apps::AppState::Active,
                origins: app
                    .origins
                    .into_iter()
                    .chain(body.allowed_origins)
                    .collect(),
                require_verified: body.auth.require_verified_email,
                limits,
                indexed_fields: body.indexed_fields,
                uploads: body.uploads,
            },
            None => AppFacts {
                active: false,
                origins: Vec::new(),
                require_verified: Default::default(),
                limits,
                indexed_fields: Default::default(),
                uploads: body.uploads,
            },
        };
        self.0.apps.insert(app_id.to_owned(), facts.clone());
        Ok(facts)
    }

    pub(crate) fn limiter(&self) -> &Limiter {
        &self.0.limiter
    }

    /// Drops an app from the cache after its config changed here.
    pub(crate) fn forget_app(&self, app_id: &str) {
        self.0.apps.remove(&app_id.to_owned());
    }

    /// The key behind a presented secret if it may be used now, reused for
    /// `KEY_CACHE_TTL` once verified unless `fresh`; `Unauthorized` otherwise.
    pub(crate) async fn verify_key(
        &self,
        presented: &str,
        fresh: bool,
    ) -> Result<ob_core::api_keys::ApiKey> {
        let hash = ob_core::secret::sha256_hex(presented);
        if !fresh
            && let Some(key) = self.0.api_keys.get(&hash)
            && key.is_usable(ob_core::clock::now_epoch())
        {
            return Ok(key);
        }
        match ob_core::api_keys::verify(&self.0.store, presented).await {
            Ok(key) => {
                self.0.api_keys.insert(hash, key.clone());
                Ok(key)
            }
            Err(err) => {
                // Refused now: no cached copy serves it any longer.
                self.0.api_keys.remove(&hash);
                Err(err)
            }
        }
    }

    /// Whether the key's use should be stamped now: not when the key as read
    /// was stamped within the minute, nor when this instance stamped it since.
    pub(crate) fn take_stamp(&self, key: &ob_core::api_keys::ApiKey) -> bool {
        let minute_ago =
            ob_core::clock::now_epoch() - ob_core::api_keys::LAST_USED_GRANULARITY_SECS;
        if key.last_used_at.is_some_and(|at| at >= minute_ago)
            || self.0.stamped.get(&key.key_id).is_some()
        {
            return false;
        }
        self.0.stamped.insert(key.key_id.clone(), ());
        true
    }

    /// Whether this instance wrote the resource's registry entry lately.
    pub(crate) fn resource_registered(&self, app_id: &str, resource: &str) -> bool {
        self.0
            .resources
            .get(&(app_id.to_owned(), resource.to_owned()))
            .is_some()
    }

    pub(crate) fn note_resource(&self, app_id: &str, resource: &str) {
        self.0
            .resources
            .insert((app_id.to_owned(), resource.to_owned()), ());
    }

    /// The context of a signed-in user's write: the standing its transaction
    /// checks and what its audit entry records.
    pub(crate) fn writer(
        &self,
        user: &crate::extract::AuthUser,
        client: &crate::extract::Client,
    ) -> ob_core::standing::Writer {
        ob_core::standing::Writer {
            standing: ob_core::standing::Standing {
                app_id: user.key.app_id().to_owned(),
                key_id: user.key.0.key_id.clone(),
                user: Some((user.claims.sub.clone(), user.claims.issued_ms())),
            },
            origin: client.0.clone(),
            audit_retention_days: self.0.settings.audit_retention_days,
        }
    }
}

impl AppState {
    /// Writes an audit entry. A failed write is logged, not returned: the state
    /// change it describes has already happened and must not be reported as failed.
    /// Queues an auth event for the app's webhooks (the webhooks function fans
    /// it out and delivers; nothing here calls a receiver). The action it
    /// reports has happened, so a refused send is logged, not the request failed.
    pub(crate) async fn emit_webhook_event(&self, event: ob_core::webhooks::events::Event) {
        let Some(queue) = &self.0.webhooks else {
            return;
        };
        let work = ob_core::webhooks::queue::Work::Event(event);
        if let Err(err) = queue.send(&work, 0).await {
            tracing::error!(error = %err, "could not queue a webhook event");
        }
    }

    pub(crate) async fn audit(&self, entry: ob_core::audit::NewEntry) {
        let action = entry.action.clone();
        if let Err(err) =
            ob_core::audit::record(&self.0.store, entry, self.0.settings.audit_retention_days).await
        {
            tracing::error!(error = %err, action = %action, "could not write audit entry");
        }
    }
}
