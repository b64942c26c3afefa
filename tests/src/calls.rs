//! Counts the DynamoDB operations a client sends, through the SDK's interceptor hook, so tests can assert request budgets.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The names of the operations sent (`GetItem`, `TransactWriteItems`, …), in
/// order, with the table each names (none for transactions and batches);
/// retries of one operation count once. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

/// One operation sent and the table it named.
type Call = (String, Option<String>);

impl CallLog {
    /// A DynamoDB client of `sdk` that records its operations here.
    pub fn dynamodb(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(self.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// An SQS client of `sdk` that records its operations here too (SQS's JSON
    /// protocol names them in `X-Amz-Target` as DynamoDB does).
    pub fn sqs(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(self.clone())
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// The operations recorded since the last `take`, and forgets them.
    pub fn take(&self) -> Vec<String> {
        self.take_all().into_iter().map(|(op, _)| op).collect()
    }

    /// The operations of a request's own path since the last take: without
    /// those on `background` (the request-limit counters, synced at most once
    /// a second per counter in parallel with requests, not by them).
    pub fn take_excluding(&self, background: &str) -> Vec<String> {
        self.take_all()
            .into_iter()
            .filter(|(_, table)| table.as_deref() != Some(background))
            .map(|(op, _)| op)
            .collect()
    }

    fn take_all(&self) -> Vec<Call> {
        self.0
            .lock()
            .map(|mut calls| std::mem::take(&mut *calls))
            .unwrap_or_default()
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    /// Once per operation (not per retry): the operation is the part of
    /// DynamoDB's `X-Amz-Target` header after the dot (`DynamoDB_20120810.GetItem`).
    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        let table = context
            .request()
            .body()
            .bytes()
            .and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok())
            .and_then(|body| body["TableName"].as_str().map(str::to_owned));
        if let Ok(mut calls) = self.0.lock() {
            calls.push((operation, table));
        }
        Ok(())
    }
}
