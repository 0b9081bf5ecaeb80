//! The loaders of files the node reads back from its data directory, which a crash, a disk
//! fault or another program may have damaged: the first byte picks the file, the rest is written
//! to a temporary file and loaded as the node does.
//!
//! - 0: `mempool.dat` (`mempool::persist::read_dump`, versions 1 and 2); what loads must write
//!   and load again to the same entries, and never holds more entries than the file has bytes.
//! - 1: `peers.json` (`p2p::addrman::AddrMan::load`); the tables stay within `NEW_MAX` and
//!   `TRIED_MAX` after loading and after the operations the connection manager runs on them
//!   (add, attempt, good, select, sample, addresses, save and reload).
//! - 2: `banlist.json` (`p2p::ban::BanList::load`) and `Subnet::parse`/`BanTarget::parse` on
//!   the text (the `setban` argument); every ban prints and parses back to itself, and a subnet
//!   ban contains its own address.
//! - 3: `module.toml` (`modules::manifest::Manifest::load`); a loaded manifest has a valid name.
#![no_main]

use blvm_node::mempool::persist::{read_dump, write_dump};
use blvm_node::modules::manifest::{valid_name, Manifest};
use blvm_node::p2p::addrman::{AddrMan, GETADDR_MAX, NEW_MAX, TRIED_MAX};
use blvm_node::p2p::ban::{BanList, BanTarget, Subnet};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::OnceLock;

const NOW: i64 = 1_700_000_000;

fn dir() -> &'static tempfile::TempDir {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    // On tmpfs when there is one: the loaders' writers fsync, which costs milliseconds on disk.
    D.get_or_init(|| tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).expect("tempdir"))
}

fn mempool_dat(dir: &Path, data: &[u8]) {
    let path = dir.join("mempool.dat");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let Ok(dump) = read_dump(&path) else { return };
    assert!(
        dump.entries.len() + dump.deltas.len() <= data.len() / 10,
        "more records than the file can hold"
    );
    let again = dir.join("mempool2.dat");
    write_dump(&again, &dump.entries, &dump.deltas).expect("write a dump");
    let back = read_dump(&again).expect("read a dump just written");
    assert_eq!(back.entries.len(), dump.entries.len(), "dump round trip");
    assert_eq!(back.deltas.len(), dump.deltas.len(), "dump round trip (deltas)");
    for (a, b) in back.entries.iter().zip(&dump.entries) {
        assert_eq!((&a.tx, a.time, a.fee_delta), (&b.tx, b.time, b.fee_delta), "dump round trip");
    }
}

fn check_sizes(am: &AddrMan) {
    let (new, tried) = am.size();
    assert!(
        new <= NEW_MAX && tried <= TRIED_MAX,
        "address tables over capacity: {new} new, {tried} tried"
    );
}

fn peers_json(dir: &Path, flags: u8, data: &[u8]) {
    let path = dir.join("peers.json");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let mut am = AddrMan::load(&path, flags & 1 == 1);
    check_sizes(&am);
    let src: IpAddr = [203, 0, 113, flags].into();
    let heard: Vec<(SocketAddr, u64, i64)> = (0..8u8)
        .map(|i| (SocketAddr::new([198, 51, flags, i].into(), 8333), 1, NOW - i64::from(i)))
        .collect();
    am.add(&heard, src, NOW);
    check_sizes(&am);
    let now = if flags & 2 == 2 { i64::MAX } else { NOW };
    for a in am.addresses(0, now).iter().take(4) {
        am.attempt(&a.addr, now);
    }
    if let Some(a) = am.select(flags & 4 == 4, now, |_| false) {
        am.good(&a, 9, now);
    }
    check_sizes(&am);
    assert!(am.sample(now).len() <= GETADDR_MAX, "getaddr sample too large");
    assert!(am.addresses(GETADDR_MAX, now).len() <= GETADDR_MAX);
    am.save();
    let again = AddrMan::load(&path, flags & 1 == 1);
    check_sizes(&again);
}

fn banlist_json(dir: &Path, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(s) = Subnet::parse(&text) {
        assert_eq!(Subnet::parse(&s.to_string()), Some(s), "subnet round trip");
        assert!(s.contains(s.addr), "a subnet contains its own address");
    }
    if let Some(t) = BanTarget::parse(&text) {
        assert_eq!(BanTarget::parse(&t.to_string()).as_ref(), Some(&t), "ban target round trip");
    }
    let path = dir.join("banlist.json");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let list = BanList::load(&path);
    for (t, _) in list.list() {
        assert_eq!(BanTarget::parse(&t.to_string()).as_ref(), Some(&t), "ban target round trip");
        if let BanTarget::Net(s) = t {
            assert!(s.contains(s.addr) && list.is_banned(s.addr), "a ban covers its own address");
        }
    }
    let _ = list.is_banned([1, 2, 3, 4].into());
    let _ = list.is_banned(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST));
}

fn module_toml(dir: &Path, data: &[u8]) {
    let mdir = dir.join("module");
    if std::fs::create_dir_all(&mdir).is_err() || std::fs::write(mdir.join("module.toml"), data).is_err() {
        return;
    }
    if let Ok(m) = Manifest::load(&mdir) {
        assert!(valid_name(&m.name), "loaded a manifest with an invalid name");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    let dir = dir().path();
    match kind % 4 {
        0 => mempool_dat(dir, rest),
        1 => peers_json(dir, kind >> 2, rest),
        2 => banlist_json(dir, rest),
        _ => module_toml(dir, rest),
    }
});
