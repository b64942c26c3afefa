//! Sending many messages to one SQS queue: `SendMessageBatch` ten at a time, in order, a refused entry failing the call.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::error::{Error, Result};

/// SendMessageBatch takes at most 10 entries.
const BATCH: usize = 10;

/// One message: its body and its delay in seconds (0 for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub body: String,
    pub delay_secs: i32,
}

/// Sends `messages` to the queue at `url`; `what` names the work in errors
/// (`enqueue notification jobs`). An entry SQS refused fails the whole call,
/// and the caller decides what a partial send means.
pub async fn send_all(
    client: &aws_sdk_sqs::Client,
    url: &str,
    messages: &[Outgoing],
    what: &str,
) -> Result<()> {
    for (chunk_index, chunk) in messages.chunks(BATCH).enumerate() {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, message)| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{}", chunk_index * BATCH + i))
                    .message_body(&message.body)
                    .delay_seconds(message.delay_secs)
                    .build()
                    .map_err(|e| Error::internal("build batch entry", e))
            })
            .collect::<Result<Vec<_>>>()?;
        let out = client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| Error::sdk(what, e))?;
        if let Some(failed) = out.failed().first() {
            return Err(Error::Internal(format!(
                "{what}: entry {} refused: {} {}",
                failed.id(),
                failed.code(),
                failed.message().unwrap_or_default()
            )));
        }
    }
    Ok(())
}
