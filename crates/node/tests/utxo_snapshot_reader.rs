//! The UTXO snapshot reader on Bitcoin Core's own snapshot of the shared 301-block chain and
//! on files damaged every way an untrusted download can be: Core's file reads to Core's
//! hash_serialized_3; truncations, flipped bytes, wrong headers, wrong counts, trailing bytes
//! and coins above the base height are refused with errors, never a panic; coins out of Core's
//! order are read (as Core reads them) without a streaming hash. Files written by the snapshot
//! writer read back to the same coins.

mod support;

use bitcoin::hashes::Hash;
use bitcoin::{Amount, Network, ScriptBuf, TxOut, Txid};
use blvm_node::chainstate::snapshot::{SnapshotError, SnapshotMetadata, SnapshotReader, SnapshotWriter};
use blvm_node::chainstate::Coin;

fn core_file() -> Vec<u8> {
    std::fs::read(support::shared_dir().join("chains/regtest-core-300.utxo-snapshot.dat")).expect("Core's snapshot")
}

/// Reads every coin of `bytes`; the coins and the hash ("" when out of order), or the first error.
fn read_all(bytes: &[u8], len_known: bool) -> Result<(Vec<(bitcoin::OutPoint, Coin)>, String), SnapshotError> {
    let len = len_known.then_some(bytes.len() as u64);
    let mut r = SnapshotReader::new(bytes, Network::Regtest, len)?;
    let mut coins = Vec::new();
    while let Some(c) = r.next_coin()? {
        coins.push(c);
    }
    Ok((coins, r.hash_serialized_3().map(|h| h.to_string()).unwrap_or_default()))
}

#[test]
fn cores_snapshot_reads_to_cores_hash() {
    let core = support::core_json();
    let bytes = core_file();
    let r = SnapshotReader::new(&bytes[..], Network::Regtest, Some(bytes.len() as u64)).unwrap();
    assert_eq!(r.metadata().base_blockhash.to_string(), core["tip_hash"].as_str().unwrap());
    assert_eq!(r.metadata().coins_count, 1708);
    let (coins, hash) = read_all(&bytes, true).unwrap();
    let info = &core["gettxoutsetinfo"]["hash_serialized_3"];
    assert_eq!(coins.len() as u64, info["txouts"].as_u64().unwrap());
    assert_eq!(hash, info["hash_serialized_3"].as_str().unwrap());
    let sat: u64 = coins.iter().map(|(_, c)| c.output.value.to_sat()).sum();
    assert_eq!(sat as f64 / 1e8, info["total_amount"].as_f64().unwrap());
    // Heights up to the base are accepted, one below is refused as Core refuses it.
    let mut r = SnapshotReader::new(&bytes[..], Network::Regtest, None).unwrap();
    r.set_base_height(299);
    let e = std::iter::from_fn(|| Some(r.next_coin())).find_map(|c| c.err()).unwrap();
    assert!(e.to_string().starts_with("Bad snapshot data after deserializing"), "{e}");
}

#[test]
fn damaged_headers_and_counts_are_refused() {
    let bytes = core_file();
    let with = |at: usize, new: &[u8]| {
        let mut b = bytes.clone();
        b[at..at + new.len()].copy_from_slice(new);
        b
    };
    let err = |b: &[u8], len_known: bool| read_all(b, len_known).expect_err("refused").to_string();
    assert!(err(&with(0, b"utxp"), true).starts_with("Invalid UTXO set snapshot magic bytes."));
    assert_eq!(
        err(&with(5, &[1, 0]), true),
        "Version of snapshot 1 does not match any of the supported versions."
    );
    assert_eq!(
        err(&with(7, &Network::Bitcoin.magic().to_bytes()), true),
        "The network of the snapshot (main) does not match the network of this node (regtest)."
    );
    assert!(err(&with(7, &[1, 2, 3, 4]), true).starts_with("This snapshot has been created for an unrecognized network."));
    // A count the file cannot hold is refused before reading; unknown length: truncated.
    let huge = with(43, &u64::MAX.to_le_bytes());
    assert!(err(&huge, true).contains("cannot fit in a file of 83353 bytes"));
    let one_more = with(43, &1709u64.to_le_bytes());
    assert_eq!(
        err(&one_more, false),
        "Bad snapshot format or truncated snapshot after deserializing 1708 coins"
    );
    let one_less = with(43, &1707u64.to_le_bytes());
    let e = err(&one_less, true);
    assert!(
        e == "Mismatch in coins count in snapshot metadata and actual snapshot data"
            || e == "Bad snapshot - coins left over after deserializing 1707 coins",
        "{e}"
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        err(&trailing, true),
        "Bad snapshot - coins left over after deserializing 1708 coins"
    );
}

#[test]
fn truncated_and_flipped_files_never_panic() {
    let bytes = core_file();
    let (_, good) = read_all(&bytes, true).unwrap();
    let cuts = (0..bytes.len()).step_by(89).chain(bytes.len() - 64..bytes.len()).chain(0..60);
    for cut in cuts {
        let e = read_all(&bytes[..cut], true).expect_err("a truncated file is refused");
        assert!(!e.to_string().is_empty());
        read_all(&bytes[..cut], false).expect_err("a truncated file is refused");
    }
    // Any one changed byte after the header is refused or changes the hash.
    for at in (51..bytes.len()).step_by(41) {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[at] ^= mask;
            if let Ok((_, hash)) = read_all(&b, true) {
                // A txid byte can break the order: no hash then, which is also not Core's.
                assert_ne!(hash, good, "byte {at} ^ {mask:#x} went unnoticed");
            }
        }
    }
}

fn coin(height: u32, sat: u64, script: Vec<u8>) -> Coin {
    Coin {
        output: TxOut {
            value: Amount::from_sat(sat),
            script_pubkey: ScriptBuf::from_bytes(script),
        },
        height,
        is_coinbase: height.is_multiple_of(2),
    }
}

fn write(groups: &[(Txid, Vec<(u32, Coin)>)]) -> Vec<u8> {
    let meta = SnapshotMetadata {
        network: Network::Regtest,
        base_blockhash: bitcoin::BlockHash::from_byte_array([5; 32]),
        coins_count: groups.iter().map(|(_, c)| c.len() as u64).sum(),
    };
    let mut w = SnapshotWriter::new(Vec::new(), &meta).unwrap();
    for (txid, coins) in groups {
        w.write_txid_group(*txid, coins).unwrap();
    }
    w.finish().unwrap().0
}

#[test]
fn written_snapshots_read_back_and_order_is_tracked() {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let pk = bitcoin::secp256k1::PublicKey::from_secret_key(&secp, &bitcoin::secp256k1::SecretKey::from_slice(&[1; 32]).unwrap());
    let p2pk_u = [&[65u8][..], &pk.serialize_uncompressed(), &[0xac]].concat();
    let t1 = Txid::from_byte_array([1; 32]);
    let t2 = Txid::from_byte_array([2; 32]);
    // Core's order within a transaction: 16,512 before 16,511.
    let groups = vec![
        (
            t1,
            vec![(0, coin(1, 0, vec![])), (5, coin(2, 21_000_000 * 100_000_000, p2pk_u.clone()))],
        ),
        (
            t2,
            vec![(16_512, coin(3, 1, vec![0x51; 300])), (16_511, coin(4, 12_345, vec![0x6a]))],
        ),
    ];
    let bytes = write(&groups);
    let (coins, _) = read_all(&bytes, true).unwrap();
    let flat: Vec<_> = groups
        .iter()
        .flat_map(|(t, cs)| cs.iter().map(move |(v, c)| (bitcoin::OutPoint { txid: *t, vout: *v }, c.clone())))
        .collect();
    assert_eq!(coins, flat);

    assert!(!read_all(&bytes, true).unwrap().1.is_empty(), "in Core's order: hashed while read");
    // Numeric vout order past 16,511, transactions out of order or repeated are read, as Core
    // reads them, but give no streaming hash.
    let numeric = vec![(t1, vec![(16_511, coin(1, 1, vec![])), (16_512, coin(1, 1, vec![]))])];
    let swapped = vec![groups[1].clone(), groups[0].clone()];
    let repeated = vec![groups[0].clone(), groups[0].clone()];
    for unordered in [numeric, swapped, repeated] {
        let (coins, hash) = read_all(&write(&unordered), true).unwrap();
        assert_eq!(coins.len(), unordered.iter().map(|(_, c)| c.len()).sum::<usize>());
        assert_eq!(hash, "");
    }
    // A value above MAX_MONEY is Core's "bad tx out value".
    let rich = vec![(t1, vec![(0, coin(1, 21_000_000 * 100_000_000 + 1, vec![]))])];
    assert!(read_all(&write(&rich), true).unwrap_err().to_string().ends_with("bad tx out value"));
    // A script over MAX_SCRIPT_SIZE becomes OP_RETURN, as in Core.
    let long = vec![(t1, vec![(0, coin(1, 1, vec![0x51; 10_001]))])];
    let (coins, _) = read_all(&write(&long), true).unwrap();
    assert_eq!(coins[0].1.output.script_pubkey.as_bytes(), &[0x6a]);
}
