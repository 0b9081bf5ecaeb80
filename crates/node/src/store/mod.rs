//! Persistence: block/undo files and the embedded database.

pub mod block_files;
mod block_writer;
pub mod coin_chunk;
pub mod coin_format;
pub mod db;
pub mod encoding;
pub mod index_db;
pub mod migrate;
pub mod obfuscation;
