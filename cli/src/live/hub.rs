//! The in-process stand-in for API Gateway's connection registry: connection id → the socket's outbound queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ob_core::realtime::{Push, PushError};
use tokio::sync::{Notify, mpsc};

/// Messages a slow client may have queued before pushes to it fail.
pub const QUEUE: usize = 256;

/// One registered socket: its outbound queue, and the signal that closes it.
#[derive(Debug)]
struct Registered {
    sender: mpsc::Sender<String>,
    closing: Arc<Notify>,
}

/// Open local sockets by connection id; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LocalHub {
    sockets: Arc<Mutex<HashMap<String, Registered>>>,
    /// `http://{address}/live`, where the in-process server answers
    /// `DELETE @connections/{id}` (recorded with each connection).
    endpoint: Option<Arc<str>>,
}

/// A registered socket's side of the hub.
#[derive(Debug)]
pub struct Outbox {
    /// Replies and pushes, in order; ends when the hub forgets the socket.
    pub messages: mpsc::Receiver<String>,
    /// Notified when the connection is closed through the hub.
    pub closing: Arc<Notify>,
}

impl LocalHub {
    /// A hub whose connections are closed through the management route at `endpoint`.
    pub fn at(endpoint: String) -> Self {
        Self {
            endpoint: Some(endpoint.into()),
            ..Self::default()
        }
    }

    /// Registers a socket; its messages arrive on the returned outbox.
    pub fn register(&self, connection_id: &str) -> Outbox {
        let (sender, messages) = mpsc::channel(QUEUE);
        let closing = Arc::new(Notify::new());
        if let Ok(mut sockets) = self.sockets.lock() {
            let registered = Registered {
                sender,
                closing: closing.clone(),
            };
            sockets.insert(connection_id.to_owned(), registered);
        }
        Outbox { messages, closing }
    }

    pub fn remove(&self, connection_id: &str) {
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.remove(connection_id);
        }
    }

    fn sender(&self, connection_id: &str) -> Option<mpsc::Sender<String>> {
        Some(self.sockets.lock().ok()?.get(connection_id)?.sender.clone())
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

    /// Like `DeleteConnection`: the socket is closed (1000), an unknown one is `Gone`.
    async fn close(&self, connection_id: &str) -> Result<(), PushError> {
        let removed = self
            .sockets
            .lock()
            .ok()
            .and_then(|mut sockets| sockets.remove(connection_id));
        match removed {
            Some(socket) => {
                socket.closing.notify_one();
                Ok(())
            }
            None => Err(PushError::Gone),
        }
    }

    fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
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
        assert_eq!(inbox.messages.recv().await.as_deref(), Some("hello"));
        drop(inbox);
        assert_eq!(hub.send("c1", "again").await, Err(PushError::Gone));
        hub.remove("c1");
        assert_eq!(hub.send("c1", "x").await, Err(PushError::Gone));
    }

    #[tokio::test]
    async fn closing_signals_the_socket_and_forgets_it() {
        let hub = LocalHub::default();
        assert_eq!(hub.close("nobody").await, Err(PushError::Gone));
        let mut outbox = hub.register("c1");
        assert_eq!(hub.close("c1").await, Ok(()));
        outbox.closing.notified().await;
        assert_eq!(outbox.messages.recv().await, None, "the queue ends");
        assert_eq!(hub.send("c1", "x").await, Err(PushError::Gone));
        assert_eq!(hub.close("c1").await, Err(PushError::Gone));
    }
}
