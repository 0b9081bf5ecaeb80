//! The UTXO snapshot reader (`chainstate::snapshot::SnapshotReader`, what `loadtxoutset` will
//! read from an untrusted download) on arbitrary bytes. The first byte picks the framing: bit 0
//! puts a valid regtest header (coin count from the next two bytes) in front of the rest so the
//! coin decoder is reached, bit 1 tells the reader the file's length, bit 2 sets a base height.
//! Asserts no panic, never more coins than announced, and a streaming hash exactly when every
//! coin was read in Core's order.
#![no_main]

use bitcoin::Network;
use blvm_node::chainstate::snapshot::{SnapshotMetadata, SnapshotReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file: Vec<u8> = if mode & 1 == 1 && rest.len() >= 2 {
        let meta = SnapshotMetadata {
            network: Network::Regtest,
            base_blockhash: bitcoin::hashes::Hash::all_zeros(),
            coins_count: u64::from(u16::from_le_bytes([rest[0], rest[1]])),
        };
        [meta.to_bytes(), rest[2..].to_vec()].concat()
    } else {
        rest.to_vec()
    };
    let len = (mode & 2 == 2).then_some(file.len() as u64);
    let Ok(mut reader) = SnapshotReader::new(&file[..], Network::Regtest, len) else {
        return;
    };
    if mode & 4 == 4 {
        reader.set_base_height(u32::from(mode >> 3) * 16);
    }
    let announced = reader.metadata().coins_count;
    loop {
        match reader.next_coin() {
            Ok(Some((_, coin))) => assert!(coin.output.script_pubkey.len() <= 10_000),
            Ok(None) => {
                assert_eq!(reader.coins_read(), announced);
                assert_eq!(reader.hash_serialized_3().is_some(), reader.in_core_order());
                break;
            }
            Err(_) => break,
        }
        assert!(reader.coins_read() <= announced);
    }
});
