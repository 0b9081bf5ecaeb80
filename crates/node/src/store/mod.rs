//! Persistence: block/undo files and the embedded database.

pub mod block_files;
mod block_writer;
pub mod db;
pub mod encoding;
pub mod index_db;
pub mod migrate;
pub mod obfuscation;
