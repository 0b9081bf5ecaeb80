//! The five notification topics and their names.

/// A ZMQ notification topic, in Core's `getzmqnotifications` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    /// `hashblock`: the new tip's hash.
    HashBlock,
    /// `hashtx`: a transaction's txid.
    HashTx,
    /// `rawblock`: the new tip, serialized.
    RawBlock,
    /// `rawtx`: a transaction, serialized with witness.
    RawTx,
    /// `sequence`: block (dis)connections and mempool additions/removals.
    Sequence,
}

impl Topic {
    /// Every topic, in Core's order.
    pub const ALL: [Topic; 5] = [Topic::HashBlock, Topic::HashTx, Topic::RawBlock, Topic::RawTx, Topic::Sequence];

    /// The topic frame sent on the wire (`hashblock`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Topic::HashBlock => "hashblock",
            Topic::HashTx => "hashtx",
            Topic::RawBlock => "rawblock",
            Topic::RawTx => "rawtx",
            Topic::Sequence => "sequence",
        }
    }

    /// The option naming its address (`zmqpubhashblock`).
    pub fn option(self) -> String {
        format!("zmqpub{}", self.name())
    }

    /// The option naming its high water mark (`zmqpubhashblockhwm`).
    pub fn hwm_option(self) -> String {
        format!("zmqpub{}hwm", self.name())
    }

    /// The `type` reported by `getzmqnotifications` (`pubhashblock`).
    pub fn rpc_type(self) -> String {
        format!("pub{}", self.name())
    }

    /// Whether this topic needs the transactions of connected and disconnected blocks.
    pub fn wants_block_txs(self) -> bool {
        matches!(self, Topic::HashTx | Topic::RawTx | Topic::Sequence)
    }
}
