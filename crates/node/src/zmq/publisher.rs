//! The notifiers and what each event publishes, following Core's CZMQNotificationInterface:
//! mempool acceptance → hashtx, rawtx, sequence 'A'; removal (not by a block) → sequence 'R';
//! block connected → hashtx and rawtx of each of its transactions, then sequence 'C'; block
//! disconnected → the same with 'D'; new tip → hashblock, rawblock.

use super::message::{self, display_hash, sequence_body};
use super::settings::{NotifierSpec, ZmqSettings};
use super::socket::{SocketQueue, ZmqError};
use super::topic::Topic;
use bitcoin::consensus::serialize;
use bitcoin::{Block, Transaction, Txid};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

struct Notifier {
    spec: NotifierSpec,
    /// Core's per-notifier nSequence: counts messages sent, dropped ones included.
    sequence: AtomicU32,
    socket: Arc<SocketQueue>,
}

/// The running ZMQ notifiers.
pub struct ZmqPublisher {
    notifiers: Vec<Notifier>,
}

impl ZmqPublisher {
    /// Binds every configured address (one socket per distinct address, shared as in Core);
    /// any failure fails the whole publisher, as Core's notification interface does.
    pub async fn start(
        settings: &ZmqSettings,
        stop: watch::Receiver<bool>,
    ) -> Result<(Arc<ZmqPublisher>, Vec<tokio::task::JoinHandle<()>>), ZmqError> {
        let mut sockets: HashMap<String, Arc<SocketQueue>> = HashMap::new();
        let mut tasks = Vec::new();
        let mut notifiers = Vec::new();
        for spec in &settings.notifiers {
            let socket = match sockets.get(&spec.address) {
                Some(s) => {
                    tracing::debug!(target: "blvm::zmq", address = %spec.address, topic = spec.topic.name(), "reusing socket");
                    s.clone()
                }
                None => {
                    let (s, task) = SocketQueue::bind(spec.topic.name(), &spec.address, spec.hwm, stop.clone()).await?;
                    tracing::debug!(target: "blvm::zmq", address = %spec.address, hwm = spec.hwm, "bound PUB socket");
                    tasks.push(task);
                    let s = Arc::new(s);
                    sockets.insert(spec.address.clone(), s.clone());
                    s
                }
            };
            notifiers.push(Notifier {
                spec: spec.clone(),
                sequence: AtomicU32::new(0),
                socket,
            });
        }
        Ok((Arc::new(ZmqPublisher { notifiers }), tasks))
    }

    /// `getzmqnotifications`: every notifier, in order.
    pub fn notifiers(&self) -> Vec<NotifierSpec> {
        self.notifiers.iter().map(|n| n.spec.clone()).collect()
    }

    /// Whether some notifier publishes `topic`.
    pub fn wants(&self, topic: Topic) -> bool {
        self.notifiers.iter().any(|n| n.spec.topic == topic)
    }

    /// Whether block (dis)connections need the block's data (hashtx, rawtx or sequence).
    pub fn wants_block_data(&self) -> bool {
        self.notifiers.iter().any(|n| n.spec.topic.wants_block_txs())
    }

    fn send(&self, topic: Topic, body: &dyn Fn() -> Vec<u8>) {
        let mut cached: Option<Vec<u8>> = None;
        for n in self.notifiers.iter().filter(|n| n.spec.topic == topic) {
            let b = cached.get_or_insert_with(body).clone();
            let seq = n.sequence.fetch_add(1, Ordering::SeqCst);
            n.socket.push(message::frames(topic.name(), b, seq));
        }
    }

    fn tx(&self, tx: &Transaction) {
        let txid = tx.compute_txid();
        tracing::debug!(target: "blvm::zmq", %txid, "publish hashtx/rawtx");
        self.send(Topic::HashTx, &|| display_hash(&txid).to_vec());
        self.send(Topic::RawTx, &|| serialize(tx));
    }

    /// A transaction entered the mempool with mempool sequence `mempool_sequence`.
    pub fn tx_added(&self, tx: &Transaction, mempool_sequence: u64) {
        self.tx(tx);
        let txid = tx.compute_txid();
        self.send(Topic::Sequence, &|| {
            sequence_body(display_hash(&txid), message::LABEL_ADDED, Some(mempool_sequence))
        });
    }

    /// A transaction left the mempool for a reason other than block inclusion.
    pub fn tx_removed(&self, txid: &Txid, mempool_sequence: u64) {
        self.send(Topic::Sequence, &|| {
            sequence_body(display_hash(txid), message::LABEL_REMOVED, Some(mempool_sequence))
        });
    }

    /// A block was connected to the active chain.
    pub fn block_connected(&self, block: &Block) {
        self.block_changed(block, message::LABEL_CONNECTED);
    }

    /// A block was disconnected from the active chain.
    pub fn block_disconnected(&self, block: &Block) {
        self.block_changed(block, message::LABEL_DISCONNECTED);
    }

    fn block_changed(&self, block: &Block, label: u8) {
        for tx in &block.txdata {
            self.tx(tx);
        }
        let hash = block.block_hash();
        tracing::debug!(target: "blvm::zmq", %hash, label = %(label as char), "publish sequence");
        self.send(Topic::Sequence, &|| sequence_body(display_hash(&hash), label, None));
    }

    /// The tip moved to `block` after connecting blocks (Core's UpdatedBlockTip).
    pub fn tip_updated(&self, block: &Block) {
        let hash = block.block_hash();
        tracing::debug!(target: "blvm::zmq", %hash, "publish hashblock/rawblock");
        self.send(Topic::HashBlock, &|| display_hash(&hash).to_vec());
        self.send(Topic::RawBlock, &|| serialize(block));
    }
}
