//! Fixtures for the HTTP API tests: the stack's tables in the emulator, apps with keys, and the whole router called in-process.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use ob_api::{AppState, ClientAddr, Services, Settings};
use ob_core::files::FileStore;
use ob_core::notify::NotifyQueue;
use ob_core::tables::{self, TableDef};
use ob_core::{Store, Tables};
use serde_json::Value;
use tower::ServiceExt;

use crate::calls::CallLog;
use crate::emulator::{EmulatorGuard, emulator};

/// HMAC key of the tests' access tokens.
pub const SIGNING_KEY: &[u8] = b"test signing key, at least 32 bytes long";
/// The scopes of `Api::app`'s key: every scope, named one by one.
pub const FULL_SCOPES: &[&str] = &[
    "auth",
    "data:read",
    "data:write",
    "files:read",
    "files:write",
    "realtime",
    "config:read",
    "config:write",
];

/// The one origin the test stage allows for every app.
pub const STAGE_ORIGIN: &str = "https://stage.example";

/// Creates every table of `ob_core::tables::ALL` as `{prefix}{logical id}`,
/// with its key schema and indexes, on-demand.
pub async fn create_tables(client: &aws_sdk_dynamodb::Client, prefix: &str) {
    for table in tables::ALL {
        create_table(client, &format!("{prefix}{}", table.logical_id), table).await;
    }
}

fn key_schema(partition: &str, sort: Option<&str>) -> Vec<KeySchemaElement> {
    let element = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("key schema element is complete")
    };
    let mut schema = vec![element(partition, KeyType::Hash)];
    schema.extend(sort.map(|s| element(s, KeyType::Range)));
    schema
}

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, table: &TableDef) {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(table.partition_key, table.sort_key)));
    // Every key attribute of the stack is a string.
    for attribute in table.key_attributes() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition is complete"),
        );
    }
    for index in table.indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .set_key_schema(Some(key_schema(index.partition_key, index.sort_key)))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("index is complete"),
        );
    }
    if table.stream {
        // As the template declares it: the realtime fan-out reads both images.
        request = request.stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
                .build()
                .expect("stream specification is complete"),
        );
    }
    request.send().await.unwrap_or_else(|e| {
        panic!(
            "create table {name}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(e)
        )
    });
}

/// Creates every queue of `ob_core::queues::ALL` as `{prefix}{logical id}`,
/// dead-letter queues first, with the redrive, visibility and retention the
/// template declares; returns their URLs by logical id.
pub async fn create_queues(
    sdk: &aws_config::SdkConfig,
    prefix: &str,
) -> HashMap<&'static str, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let client = aws_sdk_sqs::Client::new(sdk);
    let mut urls = HashMap::new();
    let mut arns: HashMap<&'static str, String> = HashMap::new();
    let mut ordered: Vec<&ob_core::queues::QueueDef> = ob_core::queues::ALL.iter().collect();
    ordered.sort_by_key(|q| !q.dead_letter);
    for queue in ordered {
        let mut request = client
            .create_queue()
            .queue_name(format!("{prefix}{}", queue.logical_id))
            .attributes(
                A::VisibilityTimeout,
                queue.visibility_timeout_secs.to_string(),
            )
            .attributes(A::MessageRetentionPeriod, queue.retention_secs.to_string())
            .attributes(A::SqsManagedSseEnabled, "true");
        if let Some(redrive) = queue.redrive {
            let policy = serde_json::json!({
                "deadLetterTargetArn": arns[redrive.dead_letter.logical_id],
                "maxReceiveCount": redrive.max_receive_count,
            });
            request = request.attributes(A::RedrivePolicy, policy.to_string());
        }
        let url = request
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "create queue {}: {}",
                    queue.logical_id,
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })
            .queue_url
            .expect("a queue URL");
        let arn = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(A::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&A::QueueArn))
            .expect("a queue ARN");
        arns.insert(queue.logical_id, arn);
        urls.insert(queue.logical_id, url);
    }
    urls
}

/// Name of the files bucket `Api::start_with_files` creates.
pub const FILES_BUCKET: &str = "t-files";

/// An S3 client of the emulator (path-style: the emulator has no bucket hosts).
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Creates the files bucket with `templates/files-bucket.yaml`'s bucket policy
/// (the emulator launcher evaluates its `aws:SecureTransport` deny as AWS does
/// for HTTPS), and returns the API's handle to it.
pub async fn create_files_bucket(sdk: &aws_config::SdkConfig, bucket: &str) -> FileStore {
    let client = s3_client(sdk);
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create bucket {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
    let arn = format!("arn:aws:s3:::{bucket}");
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, format!("{arn}/*")],
            "Condition": { "Bool": { "aws:SecureTransport": "false" } }
        }]
    });
    client
        .put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "put bucket policy: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
    FileStore::new(sdk, bucket).unwrap_or_else(|err| panic!("files store: {err}"))
}

/// Settings of the test stage: bcrypt cost 4 and one stage origin.
pub fn test_settings() -> Settings {
    Settings {
        stage: "test".into(),
        issuer: ob_api::state::issuer_for("test"),
        bcrypt_cost: 4,
        stage_origins: vec![STAGE_ORIGIN.into()],
        audit_retention_days: 7,
        ..Settings::default()
    }
}

/// A registered app and one API key of it.
#[derive(Debug, Clone)]
pub struct TestApp {
    pub app_id: String,
    pub key: String,
    pub key_id: String,
}

/// A fresh emulator with the stack's tables and the whole API in-process.
#[derive(Debug)]
pub struct Api {
    pub store: Store,
    pub state: AppState,
    /// Every DynamoDB operation the API sent, in order (see `CallLog`).
    pub calls: CallLog,
    /// The emulator's SDK config, for clients of other services.
    pub sdk: aws_config::SdkConfig,
    /// URLs of the stack's queues (`ob_core::queues`), by logical id.
    pub queues: HashMap<&'static str, String>,
    /// Every EMF line the API published, in order.
    pub metrics: ob_metrics::Recorder,
    router: Router,
    // Dropped last: returns the emulator to the pool.
    _emulator: EmulatorGuard,
}

impl Api {
    pub async fn start() -> Self {
        Self::start_with(test_settings()).await
    }

    pub async fn start_with(settings: Settings) -> Self {
        Self::start_inner(settings, false).await
    }

    /// Like `start_with`, plus the files bucket (`FILES_BUCKET`) with the
    /// template's bucket policy, so the routes under `/files` work.
    pub async fn start_with_files(settings: Settings) -> Self {
        Self::start_inner(settings, true).await
    }

    async fn start_inner(settings: Settings, with_files: bool) -> Self {
        let emulator = emulator().await;
        let sdk = emulator.sdk_config().await;
        let calls = CallLog::default();
        let client = calls.dynamodb(&sdk);
        create_tables(&client, "t-").await;
        calls.take();
        let store = Store::new(client, Tables::from_prefix("t-"));
        let files = if with_files {
            Some(create_files_bucket(&sdk, FILES_BUCKET).await)
        } else {
            None
        };
        let queues = create_queues(&sdk, "t-").await;
        let services = Services {
            files,
            notify: Some(NotifyQueue::new(
                calls.sqs(&sdk),
                &queues[ob_core::queues::NOTIFY.logical_id],
            )),
            webhooks: Some(ob_core::webhooks::queue::WebhookQueue::new(
                calls.sqs(&sdk),
                &queues[ob_core::queues::WEBHOOK_DELIVERIES.logical_id],
            )),
        };
        let metrics = ob_metrics::Recorder::default();
        let published = ob_metrics::Metrics::new(
            &settings.stage,
            ob_metrics::HttpDetail::AppTotals,
            std::sync::Arc::new(metrics.clone()),
        );
        let state = AppState::with_services(store.clone(), services, SIGNING_KEY, settings)
            .expect("state builds")
            .with_metrics(published);
        Self {
            router: ob_api::router(state.clone()),
            store,
            state,
            calls,
            sdk,
            queues,
            metrics,
            _emulator: emulator,
        }
    }

    /// The emulator the API runs against.
    pub fn emulator(&self) -> &crate::Emulator {
        &self._emulator
    }

    /// Registers an app and gives it a key with every scope by name
    /// (`FULL_SCOPES`: the defaults plus `config:write`).
    pub async fn app(&self, app_id: &str) -> TestApp {
        ob_core::apps::create(&self.store, app_id, app_id, &[])
            .await
            .expect("app is created");
        let key = self.key(app_id, FULL_SCOPES).await;
        TestApp {
            app_id: app_id.into(),
            key: key.secret,
            key_id: key.key.key_id,
        }
    }

    /// Creates another key of an app.
    pub async fn key(&self, app_id: &str, scopes: &[&str]) -> ob_core::api_keys::CreatedKey {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        ob_core::api_keys::create(&self.store, app_id, "test key", &scopes, None)
            .await
            .expect("key is created")
    }

    /// Sends a request through the whole router.
    pub async fn send(&self, call: Call) -> Reply {
        send_to(&self.router, call).await
    }

    /// Registers a user through the API and returns the reply (201 expected).
    pub async fn register(&self, app: &TestApp, email: &str, password: &str) -> Reply {
        self.send(
            Call::post("/auth/register")
                .key(&app.key)
                .json(&serde_json::json!({
                    "email": email, "password": password, "appId": app.app_id
                })),
        )
        .await
    }

    /// Logs a user in through the API and returns the reply.
    pub async fn login(&self, app: &TestApp, email: &str, password: &str) -> Reply {
        self.send(
            Call::post("/auth/login")
                .key(&app.key)
                .json(&serde_json::json!({
                    "email": email, "password": password, "appId": app.app_id
                })),
        )
        .await
    }

    /// Presents a refresh token through the API and returns the reply.
    pub async fn refresh(&self, app: &TestApp, token: &str) -> Reply {
        self.send(
            Call::post("/auth/refresh")
                .key(&app.key)
                .json(&serde_json::json!({ "refreshToken": token })),
        )
        .await
    }

    /// Every audit entry of an app, newest first.
    pub async fn audit(&self, app_id: &str) -> Vec<ob_core::audit::AuditEntry> {
        ob_core::audit::list(&self.store, app_id, 500)
            .await
            .expect("audit is readable")
    }
}

/// A request under construction.
#[derive(Debug)]
pub struct Call {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    client_addr: Option<String>,
}

impl Call {
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            client_addr: None,
        }
    }
    pub fn get(path: &str) -> Self {
        Self::new(Method::GET, path)
    }
    pub fn post(path: &str) -> Self {
        Self::new(Method::POST, path)
    }
    pub fn put(path: &str) -> Self {
        Self::new(Method::PUT, path)
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn key(self, key: &str) -> Self {
        self.header("x-api-key", key)
    }
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
    pub fn json(self, body: &Value) -> Self {
        self.raw("application/json", body.to_string().into_bytes())
    }
    pub fn raw(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.body = body;
        self.header(header::CONTENT_TYPE.as_str(), content_type)
    }
    /// The caller's address, as the Lambda hosts set it.
    pub fn from_addr(mut self, addr: &str) -> Self {
        self.client_addr = Some(addr.to_owned());
        self
    }

    fn build(self) -> Request<Body> {
        let mut builder = Request::builder().method(self.method).uri(self.path);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let mut request = builder
            .body(Body::from(self.body))
            .expect("request is valid");
        if let Some(addr) = self.client_addr {
            request.extensions_mut().insert(ClientAddr(addr));
        }
        request
    }
}

/// A response, with the body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// A string field of the body by JSON pointer.
    pub fn str(&self, pointer: &str) -> String {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string at {pointer} in {}", self.body))
            .to_owned()
    }

    /// Asserts the status, showing the body when it differs.
    pub fn expect(self, status: StatusCode) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }
}

/// Counts items per value of a string attribute (helper for storage assertions).
pub fn count_by<'a>(values: impl IntoIterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    let mut counts = HashMap::new();
    for value in values {
        *counts.entry(value).or_insert(0) += 1;
    }
    counts
}

/// Sends a request through a router (e.g. one over a deployed stage's tables).
pub async fn send_to(router: &Router, call: Call) -> Reply {
    let response = router
        .clone()
        .oneshot(call.build())
        .await
        .unwrap_or_else(|never| match never {});
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body is readable")
        .to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Reply {
        status,
        headers,
        body,
    }
}
