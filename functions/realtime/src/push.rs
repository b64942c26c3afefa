//! Pushes to and closes WebSocket connections through API Gateway's management API (`PostToConnection`, `DeleteConnection`).

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::DisplayErrorContext;
use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use ob_core::realtime::{Push, PushError};

/// The management API of the stage's WebSocket API; built once per cold start.
#[derive(Debug, Clone)]
pub struct ManagementApi {
    client: Client,
    /// The endpoint, recorded with each connection this function opens.
    endpoint: Option<String>,
}

impl ManagementApi {
    /// `endpoint` is `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`
    /// (the template passes it as `WEBSOCKET_MANAGEMENT_URL`).
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        Self {
            client: Client::from_conf(config),
            endpoint: Some(endpoint.to_owned()),
        }
    }

    pub fn from_client(client: Client) -> Self {
        Self {
            client,
            endpoint: None,
        }
    }
}

impl Push for ManagementApi {
    async fn send(&self, connection_id: &str, message: &str) -> Result<(), PushError> {
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(message.as_bytes().to_vec()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(PostToConnectionError::GoneException(_)) => Err(PushError::Gone),
                _ => Err(PushError::Failed(DisplayErrorContext(err).to_string())),
            },
        }
    }

    async fn close(&self, connection_id: &str) -> Result<(), PushError> {
        let result = self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(DeleteConnectionError::GoneException(_)) => Err(PushError::Gone),
                _ => Err(PushError::Failed(DisplayErrorContext(err).to_string())),
            },
        }
    }

    fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;

    /// Replays recorded management-API answers: 200 for a live connection, the
    /// 410 GoneException AWS sends for a closed one, a 403 for a missing permission.
    fn api(
        status: u16,
        error_type: Option<&str>,
        body: &str,
    ) -> (ManagementApi, StaticReplayClient) {
        replay("POST", "{\"type\":\"pong\"}", status, error_type, body)
    }

    /// The same for one request of `method` with `sent` as its body.
    fn replay(
        method: &str,
        sent: &str,
        status: u16,
        error_type: Option<&str>,
        body: &str,
    ) -> (ManagementApi, StaticReplayClient) {
        let mut response = http::Response::builder().status(status);
        if let Some(kind) = error_type {
            response = response
                .header("x-amzn-errortype", kind)
                .header("content-type", "application/json");
        }
        let event = ReplayEvent::new(
            http::Request::builder()
                .method(method)
                .uri("https://abc123.execute-api.eu-west-1.amazonaws.com/live/@connections/L0SM9cOFvHcCIhw%3D")
                .body(SdkBody::from(sent.to_owned()))
                .unwrap(),
            response.body(SdkBody::from(body.to_owned())).unwrap(),
        );
        let http = StaticReplayClient::new(vec![event]);
        let config = aws_sdk_apigatewaymanagement::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "replay",
            ))
            .endpoint_url("https://abc123.execute-api.eu-west-1.amazonaws.com/live")
            .http_client(http.clone())
            .build();
        (ManagementApi::from_client(Client::from_conf(config)), http)
    }

    #[tokio::test]
    async fn a_post_goes_to_the_connection_path_and_gone_is_recognised() {
        let (ok, http) = api(200, None, "");
        assert_eq!(
            ok.send("L0SM9cOFvHcCIhw=", "{\"type\":\"pong\"}").await,
            Ok(())
        );
        http.assert_requests_match(&[]);

        let (gone, _) = api(410, Some("GoneException"), "{\"message\":null}");
        assert_eq!(
            gone.send("L0SM9cOFvHcCIhw=", "{\"type\":\"pong\"}").await,
            Err(PushError::Gone)
        );

        let (denied, _) = api(
            403,
            Some("ForbiddenException"),
            "{\"message\":\"User: arn:aws:sts::123456789012:assumed-role/x is not authorized\"}",
        );
        let err = denied.send("L0SM9cOFvHcCIhw=", "{\"type\":\"pong\"}").await;
        assert!(matches!(err, Err(PushError::Failed(reason)) if reason.contains("not authorized")));
    }

    #[tokio::test]
    async fn a_close_deletes_the_connection_and_gone_is_recognised() {
        let (ok, http) = replay("DELETE", "", 204, None, "");
        assert_eq!(ok.close("L0SM9cOFvHcCIhw=").await, Ok(()));
        http.assert_requests_match(&[]);

        let (gone, _) = replay(
            "DELETE",
            "",
            410,
            Some("GoneException"),
            "{\"message\":null}",
        );
        assert_eq!(gone.close("L0SM9cOFvHcCIhw=").await, Err(PushError::Gone));

        let (denied, _) = replay(
            "DELETE",
            "",
            403,
            Some("ForbiddenException"),
            "{\"message\":\"User: arn:aws:iam::123456789012:user/ops is not authorized to perform: execute-api:ManageConnections\"}",
        );
        let err = denied.close("L0SM9cOFvHcCIhw=").await;
        assert!(matches!(err, Err(PushError::Failed(reason)) if reason.contains("not authorized")));
    }
}
