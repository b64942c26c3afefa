//! A DynamoDB condition failure turned into a domain answer in one line: `result.on_condition_failed("action", || Error::X)?` or `result.ok_if_condition_failed("action")?`.
//!
//! A conditional write refused by its condition is an answer (the item is
//! there already, changed, or gone), not a fault. The SDK reports it as the
//! operation's `ConditionalCheckFailedException` variant, or for a
//! transaction as a cancellation whose per-item reasons name
//! `ConditionalCheckFailed`. Both are recognised by their typed variant and
//! code, never by the message; any other failure stays an error of `action`.

use std::fmt::Debug;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

use crate::error::{Error, Result};

/// An operation's error that can tell whether a condition refused the write.
pub trait ConditionFailure {
    /// Whether the write was refused by a condition (of one of its items, for a transaction).
    fn is_condition_failure(&self) -> bool;
}

impl ConditionFailure for PutItemError {
    fn is_condition_failure(&self) -> bool {
        matches!(self, Self::ConditionalCheckFailedException(_))
    }
}

impl ConditionFailure for UpdateItemError {
    fn is_condition_failure(&self) -> bool {
        matches!(self, Self::ConditionalCheckFailedException(_))
    }
}

impl ConditionFailure for DeleteItemError {
    fn is_condition_failure(&self) -> bool {
        matches!(self, Self::ConditionalCheckFailedException(_))
    }
}

impl ConditionFailure for TransactWriteItemsError {
    fn is_condition_failure(&self) -> bool {
        match self {
            Self::TransactionCanceledException(cancelled) => cancelled
                .cancellation_reasons()
                .iter()
                .any(|reason| reason.code() == Some("ConditionalCheckFailed")),
            _ => false,
        }
    }
}

impl<E: ConditionFailure, R> ConditionFailure for SdkError<E, R> {
    fn is_condition_failure(&self) -> bool {
        self.as_service_error()
            .is_some_and(ConditionFailure::is_condition_failure)
    }
}

/// The result of a conditional write, read in one line.
pub trait OnConditionFailed<T> {
    /// The output; `refusal()` when a condition refused the write; any other
    /// failure an error of `action`.
    fn on_condition_failed(self, action: &str, refusal: impl FnOnce() -> Error) -> Result<T>;

    /// The output, or `None` when a condition refused the write (an expected
    /// answer the caller acts on); any other failure an error of `action`.
    fn ok_if_condition_failed(self, action: &str) -> Result<Option<T>>;
}

impl<T, E, R> OnConditionFailed<T> for std::result::Result<T, SdkError<E, R>>
where
    E: ConditionFailure + std::error::Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    fn on_condition_failed(self, action: &str, refusal: impl FnOnce() -> Error) -> Result<T> {
        match self {
            Ok(output) => Ok(output),
            Err(err) if err.is_condition_failure() => Err(refusal()),
            Err(err) => Err(Error::sdk(action, err)),
        }
    }

    fn ok_if_condition_failed(self, action: &str) -> Result<Option<T>> {
        match self {
            Ok(output) => Ok(Some(output)),
            Err(err) if err.is_condition_failure() => Ok(None),
            Err(err) => Err(Error::sdk(action, err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::{
        ConditionalCheckFailedException, ProvisionedThroughputExceededException,
        TransactionCanceledException,
    };

    /// The raw response beside the error (the trait reads only the error).
    type Response = ();

    /// A service error as the SDK hands it over: the operation's typed error.
    fn service<E>(err: E) -> SdkError<E, Response> {
        SdkError::service_error(err, ())
    }

    fn condition_failed() -> SdkError<PutItemError, Response> {
        service(PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .build(),
        ))
    }

    fn throttled() -> SdkError<PutItemError, Response> {
        service(PutItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("The conditional request failed")
                .build(),
        ))
    }

    fn cancelled(codes: &[&str]) -> SdkError<TransactWriteItemsError, Response> {
        let reasons = codes
            .iter()
            .map(|code| CancellationReason::builder().code(*code).build())
            .collect();
        service(TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .message("Transaction cancelled")
                .set_cancellation_reasons(Some(reasons))
                .build(),
        ))
    }

    #[test]
    fn a_failed_condition_becomes_the_domain_answer() {
        let refused: std::result::Result<PutItemOutput, _> = Err(condition_failed());
        let answer = refused.on_condition_failed("create", || Error::Conflict("taken".into()));
        assert!(matches!(answer, Err(Error::Conflict(m)) if m == "taken"));
        let refused: std::result::Result<PutItemOutput, _> = Err(condition_failed());
        assert!(matches!(refused.ok_if_condition_failed("create"), Ok(None)));
    }

    #[test]
    fn any_other_failure_stays_an_error_of_its_action_whatever_its_message() {
        // The same message as a condition failure: only the variant decides.
        let other: std::result::Result<PutItemOutput, _> = Err(throttled());
        let answer = other.on_condition_failed("create app", || Error::Conflict("taken".into()));
        assert!(matches!(answer, Err(Error::Internal(m)) if m.starts_with("create app: ")));
        let other: std::result::Result<PutItemOutput, _> = Err(throttled());
        assert!(matches!(
            other.ok_if_condition_failed("x"),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn a_success_passes_through() {
        let ok: std::result::Result<u8, SdkError<PutItemError, Response>> = Ok(7);
        assert_eq!(
            ok.on_condition_failed("x", || Error::Conflict("no".into()))
                .unwrap(),
            7
        );
        let ok: std::result::Result<u8, SdkError<PutItemError, Response>> = Ok(7);
        assert_eq!(ok.ok_if_condition_failed("x").unwrap(), Some(7));
    }

    #[test]
    fn a_transaction_cancelled_by_a_condition_is_one_and_a_conflict_is_not() {
        assert!(cancelled(&["None", "ConditionalCheckFailed"]).is_condition_failure());
        assert!(!cancelled(&["None", "TransactionConflict"]).is_condition_failure());
        assert!(!cancelled(&[]).is_condition_failure());
        let conflict: std::result::Result<(), _> = Err(cancelled(&["TransactionConflict"]));
        assert!(matches!(
            conflict.ok_if_condition_failed("t"),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn each_single_item_write_knows_its_condition_failure() {
        let update = UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        );
        let delete = DeleteItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        );
        assert!(service(update).is_condition_failure());
        assert!(service(delete).is_condition_failure());
        // A failure without a service answer (timeout, dispatch) is none.
        let timeout: SdkError<UpdateItemError, Response> = SdkError::timeout_error("no answer");
        assert!(!timeout.is_condition_failure());
    }
}
