//! The in-process stand-in for API Gateway's connection registry: connection id → the socket's outbound queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ob_core::realtime::{Push, PushError};
use tokio::sync::mpsc;

/// Messages a slow client may have queued before pushes to it fail.
pub const QUEUE: usize = 256;

/// Open local sockets by connection id; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LocalHub {
    sockets: Arc<Mutex<HashMap<String, mpsc::Sender<String>>>>,
}

impl LocalHub {
    /// Registers a socket; its messages arrive on the returned receiver.
    pub fn register(&self, connection_id: &str) -> mpsc::Receiver<String> {
        let (sender, receiver) = mpsc::channel(QUEUE);
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.insert(connection_id.to_owned(), sender);
        }
        receiver
    }

    pub fn remove(&self, connection_id: &str) {
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.remove(connection_id);
        }
    }

    fn sender(&self, connection_id: &str) -> Option<mpsc::Sender<String>> {
        self.sockets.lock().ok()?.get(connection_id).cloned()
    }
}

impl Push for LocalHub {
    /// Like API Gateway: an unknown or closed connection is `Gone`.
    async fn send(&self, connection_id: &str, message: &str) -> Result<(), PushError> {
        let Some(sender) = self.sender(connection_id) else {
            return Err(PushError::Gone);
        };
        match sender.try_send(message.to_owned()) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PushError::Gone),
            Err(mpsc::error::TrySendError::Full(_)) => Err(PushError::Failed(format!(
                "the client has {QUEUE} unread messages"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_and_closed_sockets_are_gone() {
        let hub = LocalHub::default();
        assert_eq!(hub.send("nobody", "x").await, Err(PushError::Gone));
        let mut inbox = hub.register("c1");
        assert_eq!(hub.send("c1", "hello").await, Ok(()));
        assert_eq!(inbox.recv().await.as_deref(), Some("hello"));
        drop(inbox);
        assert_eq!(hub.send("c1", "again").await, Err(PushError::Gone));
        hub.remove("c1");
        assert_eq!(hub.send("c1", "x").await, Err(PushError::Gone));
    }
}
