//! Bitcoin Core's ZMQ notifications (`-zmqpub<topic>=<address>`): PUB sockets sending
//! multipart messages `[topic, body, 4-byte LE per-notifier sequence]` for block and
//! transaction events, byte-identical to Core's (see docs/zmq.md).

pub mod message;
pub mod publisher;
pub mod settings;
pub mod socket;
pub mod topic;

pub use publisher::ZmqPublisher;
pub use settings::{NotifierSpec, ZmqSettings, DEFAULT_HWM};
pub use socket::ZmqError;
pub use topic::Topic;
