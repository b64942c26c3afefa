//! Closes the open WebSocket connections an admin command takes access from, through the stage's management API.
//!
//! The endpoint is the stack's `WebSocketUrl` output as the management API
//! sees it (`wss://{api}…/live` → `https://{api}…/live`), called with the
//! operator's credentials (`execute-api:ManageConnections`). Against the local
//! emulator the WebSocket API is played by `obctl dev`'s gateway, whose
//! address only the connection knows: there, a connection recorded with a
//! loopback endpoint is closed through that endpoint.

use std::collections::BTreeMap;

use ob_core::realtime::revocation::{self, Closed, Holder, OpenConnection};
use ob_realtime::push::ManagementApi;

use super::AdminContext;
use crate::error::{CliError, Result};

/// The stack output the management endpoint is derived from.
pub const WEBSOCKET_OUTPUT: &str = "WebSocketUrl";

/// The management API's endpoint for a WebSocket URL: same host and stage, over HTTPS.
pub fn management_endpoint(websocket_url: &str) -> Option<String> {
    let rest = websocket_url
        .strip_prefix("wss://")
        .map(|rest| format!("https://{rest}"))
        .or_else(|| {
            websocket_url
                .strip_prefix("ws://")
                .map(|rest| format!("http://{rest}"))
        })?;
    Some(rest.trim_end_matches('/').to_owned())
}

/// Whether `endpoint` is a gateway on this machine (`obctl dev`'s).
fn is_loopback(endpoint: &str) -> bool {
    endpoint
        .strip_prefix("http://")
        .and_then(|rest| rest.split(['/', ':']).next())
        .is_some_and(|host| host == "127.0.0.1" || host == "localhost")
}

impl AdminContext {
    /// The endpoint that reaches `connection`: the stack's, or against an
    /// emulator the local gateway the connection was recorded through.
    fn endpoint_for(&self, connection: &OpenConnection) -> Result<String> {
        if self.aws.endpoint_url.is_some()
            && let Some(local) = connection.endpoint.as_deref().filter(|e| is_loopback(e))
        {
            return Ok(local.to_owned());
        }
        self.outputs
            .get(WEBSOCKET_OUTPUT)
            .and_then(|url| management_endpoint(url))
            .ok_or_else(|| {
                CliError::new(format!(
                    "the stack of stage {} has no {WEBSOCKET_OUTPUT} output to close connections through",
                    self.stage.name
                ))
                .fix(format!(
                    "redeploy the stage: `obctl deploy --stage {}`",
                    self.stage.name
                ))
            })
    }

    /// Closes the holder's open connections and removes their items. A
    /// connection the management API did not close is reported on standard
    /// error (its items are gone all the same, so it receives nothing more).
    pub async fn close_connections(&self, holder: Holder<'_>) -> Result<Closed> {
        let app_id = match holder {
            Holder::App(app_id) | Holder::User { app_id, .. } | Holder::Key { app_id, .. } => {
                app_id
            }
        };
        let fail = |e| self.core_error("close the open WebSocket connections", app_id, e);
        let found = revocation::find(&self.store, holder).await.map_err(fail)?;
        let mut by_endpoint: BTreeMap<String, Vec<OpenConnection>> = BTreeMap::new();
        for connection in found {
            by_endpoint
                .entry(self.endpoint_for(&connection)?)
                .or_default()
                .push(connection);
        }
        let mut report = Closed::default();
        for (endpoint, connections) in by_endpoint {
            let api = ManagementApi::new(&self.aws.config, &endpoint);
            let closed = revocation::close(&self.store, &api, &connections)
                .await
                .map_err(fail)?;
            report.add(closed);
        }
        for failure in &report.failed {
            eprintln!(
                "warning: could not close WebSocket connection {failure}; its items are removed, so it receives nothing more (the caller needs execute-api:ManageConnections)"
            );
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_management_endpoint_is_the_websocket_url_over_https() {
        assert_eq!(
            management_endpoint("wss://abc123.execute-api.eu-west-1.amazonaws.com/live").as_deref(),
            Some("https://abc123.execute-api.eu-west-1.amazonaws.com/live")
        );
        assert_eq!(
            management_endpoint("ws://127.0.0.1:8787/live/").as_deref(),
            Some("http://127.0.0.1:8787/live")
        );
        assert_eq!(management_endpoint("https://x/live"), None);
        assert!(is_loopback("http://127.0.0.1:8787/live"));
        assert!(!is_loopback("https://127.0.0.1/live"));
        assert!(!is_loopback("http://127.0.0.1.evil.example/live"));
    }
}
