//! One bound PUB socket and its bounded outbound queue (the high water mark): publishing never
//! waits; when the queue is full the message is dropped, as libzmq does at SNDHWM.

use thiserror::Error;
use tokio::sync::{mpsc, watch};
use zeromq::{Socket, SocketSend, ZmqMessage};

/// ZMQ publisher failures.
#[derive(Debug, Error)]
pub enum ZmqError {
    /// The address is malformed or cannot be bound.
    #[error("zmq: cannot bind -zmqpub{topic}={address}: {reason}")]
    Bind {
        /// The topic whose option named the address.
        topic: &'static str,
        /// The address.
        address: String,
        /// Why (bad address, address in use, ...).
        reason: String,
    },
}

/// The sending side of a bound socket, shared by the notifiers using its address.
#[derive(Debug)]
pub struct SocketQueue {
    tx: mpsc::Sender<ZmqMessage>,
    address: String,
}

/// The address form the zeromq crate binds (`*` as the host means every interface).
fn bind_address(address: &str) -> String {
    match address.strip_prefix("tcp://*:") {
        Some(port) => format!("tcp://0.0.0.0:{port}"),
        None => address.to_string(),
    }
}

impl SocketQueue {
    /// Binds a PUB socket at `address` and spawns its sender, which runs until `stop`.
    pub async fn bind(
        topic: &'static str,
        address: &str,
        hwm: u32,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(SocketQueue, tokio::task::JoinHandle<()>), ZmqError> {
        let err = |reason: String| ZmqError::Bind {
            topic,
            address: address.to_string(),
            reason,
        };
        if !(address.starts_with("tcp://") || address.starts_with("ipc://")) {
            return Err(err("not a tcp:// or ipc:// address".into()));
        }
        let mut socket = zeromq::PubSocket::new();
        socket.bind(&bind_address(address)).await.map_err(|e| err(e.to_string()))?;
        let capacity = if hwm == 0 {
            tokio::sync::Semaphore::MAX_PERMITS
        } else {
            hwm as usize
        };
        let (tx, mut rx) = mpsc::channel::<ZmqMessage>(capacity);
        let addr = address.to_string();
        let handle = tokio::spawn(async move {
            loop {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(m) => {
                            if let Err(e) = socket.send(m).await {
                                tracing::debug!(target: "blvm::zmq", address = %addr, "send failed: {e}");
                            }
                        }
                        None => break,
                    },
                    _ = stop.changed() => break,
                }
            }
            let _ = socket.close().await;
        });
        Ok((
            SocketQueue {
                tx,
                address: address.to_string(),
            },
            handle,
        ))
    }

    /// Queues one message without waiting; false when it was dropped (queue full or closed).
    pub fn push(&self, frames: [Vec<u8>; 3]) -> bool {
        let parts: Vec<bytes::Bytes> = frames.into_iter().map(bytes::Bytes::from).collect();
        let Ok(msg) = ZmqMessage::try_from(parts) else {
            return false;
        };
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(target: "blvm::zmq", address = %self.address, "message dropped: {e}");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_host_binds_every_interface() {
        assert_eq!(bind_address("tcp://*:28332"), "tcp://0.0.0.0:28332");
        assert_eq!(bind_address("ipc:///tmp/s"), "ipc:///tmp/s");
    }
}
