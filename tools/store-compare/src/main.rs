//! Microbench of blvm's UTXO store pattern (issue 14) across embedded stores.
//!
//! Grows a set of 36-byte outpoint keys (32 random bytes + 4-byte big-endian vout) with 12-byte
//! values, one atomic durable commit per batch (upserts of new coins + deletes of random
//! existing ones, as a chainstate flush), and between batches does random point reads of existing
//! keys through a read snapshot (as block validation does on cache misses).
//!
//! Usage: store-compare BACKEND DIR TARGET_COINS BATCH_UPSERTS READS
//! Backends: redb-random, redb-sorted, redb-sorted-cache1g, fjall, fjall-cache512m, heed,
//! heed-sorted.

use std::path::Path;
use std::time::Instant;

type Key = [u8; 36];

/// splitmix64: a deterministic, dependency-free generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn key(&mut self) -> Key {
        let mut k = [0u8; 36];
        for c in k[..32].chunks_mut(8) {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        k[32..].copy_from_slice(&((self.next() % 100) as u32).to_be_bytes());
        k
    }
    fn value(&mut self) -> [u8; 12] {
        let mut v = [0u8; 12];
        v[..8].copy_from_slice(&self.next().to_le_bytes());
        v[8..].copy_from_slice(&(self.next() as u32).to_le_bytes());
        v
    }
}

/// One backend: an atomic durable batch commit and snapshot point reads.
trait Store {
    fn commit(&mut self, batch: &mut Vec<(Key, Option<[u8; 12]>)>);
    fn read_all(&self, keys: &[Key]) -> usize;
}

mod redb_store {
    use super::*;
    use redb::{Database, TableDefinition};
    const COINS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("coins");
    pub struct S {
        pub db: Database,
        pub sorted: bool,
    }
    pub fn open(dir: &Path, sorted: bool, cache: Option<usize>) -> S {
        std::fs::create_dir_all(dir).unwrap();
        let mut b = Database::builder();
        if let Some(c) = cache {
            b.set_cache_size(c);
        }
        let db = b.create(dir.join("chain.redb")).unwrap();
        let t = db.begin_write().unwrap();
        t.open_table(COINS).unwrap();
        t.commit().unwrap();
        S { db, sorted }
    }
    impl Store for S {
        fn commit(&mut self, batch: &mut Vec<(Key, Option<[u8; 12]>)>) {
            if self.sorted {
                batch.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            }
            let t = self.db.begin_write().unwrap();
            {
                let mut c = t.open_table(COINS).unwrap();
                for (k, v) in batch.iter() {
                    match v {
                        Some(v) => {
                            c.insert(k.as_slice(), v.as_slice()).unwrap();
                        }
                        None => {
                            c.remove(k.as_slice()).unwrap();
                        }
                    }
                }
            }
            t.commit().unwrap();
        }
        fn read_all(&self, keys: &[Key]) -> usize {
            let r = self.db.begin_read().unwrap();
            let t = r.open_table(COINS).unwrap();
            keys.iter().filter(|k| t.get(k.as_slice()).unwrap().is_some()).count()
        }
    }
}

mod fjall_store {
    use super::*;
    use fjall::{Config, Keyspace, PartitionCreateOptions, PartitionHandle, PersistMode};
    pub struct S {
        ks: Keyspace,
        coins: PartitionHandle,
    }
    pub fn open(dir: &Path, cache: Option<u64>) -> S {
        let mut c = Config::new(dir.join("chainstate"));
        if let Some(n) = cache {
            c = c.cache_size(n);
        }
        let ks = c.open().unwrap();
        let coins = ks.open_partition("coins", PartitionCreateOptions::default()).unwrap();
        S { ks, coins }
    }
    impl Store for S {
        fn commit(&mut self, batch: &mut Vec<(Key, Option<[u8; 12]>)>) {
            let mut b = self.ks.batch().durability(Some(PersistMode::SyncAll));
            for (k, v) in batch.iter() {
                match v {
                    Some(v) => b.insert(&self.coins, k.as_slice(), v.as_slice()),
                    None => b.remove(&self.coins, k.as_slice()),
                }
            }
            b.commit().unwrap();
        }
        fn read_all(&self, keys: &[Key]) -> usize {
            let s = self.coins.snapshot();
            keys.iter().filter(|k| s.get(k.as_slice()).unwrap().is_some()).count()
        }
    }
}

mod heed_store {
    use super::*;
    use heed::types::Bytes;
    use heed::{Database, Env, EnvOpenOptions, WithoutTls};
    pub struct S {
        env: Env<WithoutTls>,
        db: Database<Bytes, Bytes>,
        sorted: bool,
    }
    pub fn open(dir: &Path, sorted: bool) -> S {
        let p = dir.join("chainstate");
        std::fs::create_dir_all(&p).unwrap();
        let mut o = EnvOpenOptions::new().read_txn_without_tls();
        o.map_size(64 << 30).max_dbs(8);
        // SAFETY: one process opens this directory.
        let env = unsafe { o.open(&p) }.unwrap();
        let mut w = env.write_txn().unwrap();
        let db = env.create_database(&mut w, Some("coins")).unwrap();
        w.commit().unwrap();
        S { env, db, sorted }
    }
    impl Store for S {
        fn commit(&mut self, batch: &mut Vec<(Key, Option<[u8; 12]>)>) {
            if self.sorted {
                batch.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            }
            let mut w = self.env.write_txn().unwrap();
            for (k, v) in batch.iter() {
                match v {
                    Some(v) => self.db.put(&mut w, k.as_slice(), v.as_slice()).unwrap(),
                    None => {
                        self.db.delete(&mut w, k.as_slice()).unwrap();
                    }
                }
            }
            w.commit().unwrap();
        }
        fn read_all(&self, keys: &[Key]) -> usize {
            let r = self.env.read_txn().unwrap();
            keys.iter().filter(|k| self.db.get(&r, k.as_slice()).unwrap().is_some()).count()
        }
    }
}

fn dir_size(p: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(p).unwrap().flatten() {
        let m = e.metadata().unwrap();
        n += if m.is_dir() { dir_size(&e.path()) } else { m.len() };
    }
    n
}

fn peak_rss_mib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (backend, dir) = (a[1].as_str(), Path::new(&a[2]));
    let target: usize = a[3].parse().unwrap();
    let batch_n: usize = a[4].parse().unwrap();
    let reads: usize = a[5].parse().unwrap();
    let _ = std::fs::remove_dir_all(dir);
    let mut store: Box<dyn Store> = match backend {
        "redb-random" => Box::new(redb_store::open(dir, false, None)),
        "redb-sorted" => Box::new(redb_store::open(dir, true, None)),
        "redb-sorted-cache1g" => Box::new(redb_store::open(dir, true, Some(1 << 30))),
        "fjall" => Box::new(fjall_store::open(dir, None)),
        "fjall-cache512m" => Box::new(fjall_store::open(dir, Some(512 << 20))),
        "heed" => Box::new(heed_store::open(dir, false)),
        "heed-sorted" => Box::new(heed_store::open(dir, true)),
        _ => panic!("unknown backend {backend}"),
    };
    let mut rng = Rng(14);
    let mut live: Vec<Key> = Vec::with_capacity(target + batch_n);
    let mut batch_no = 0;
    let (mut write_s, mut read_s, mut written, mut read_n) = (0f64, 0f64, 0usize, 0usize);
    while live.len() < target {
        let deletes = if live.is_empty() { 0 } else { batch_n / 5 };
        let mut batch = Vec::with_capacity(batch_n + deletes);
        for _ in 0..deletes {
            let i = (rng.next() % live.len() as u64) as usize;
            batch.push((live.swap_remove(i), None));
        }
        for _ in 0..batch_n {
            let k = rng.key();
            live.push(k);
            batch.push((k, Some(rng.value())));
        }
        // As the cache hands it over: in no particular order.
        for i in (1..batch.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            batch.swap(i, j);
        }
        let n = batch.len();
        let t = Instant::now();
        store.commit(&mut batch);
        let w = t.elapsed().as_secs_f64();
        drop(batch);
        let probe: Vec<Key> = (0..reads).map(|_| live[(rng.next() % live.len() as u64) as usize]).collect();
        let t = Instant::now();
        let found = store.read_all(&probe);
        let r = t.elapsed().as_secs_f64();
        assert_eq!(found, reads, "every live key is found");
        batch_no += 1;
        write_s += w;
        read_s += r;
        written += n;
        read_n += reads;
        println!(
            "{backend} batch {batch_no}: set {} coins, {n} writes {w:.2} s = {:.2} us/coin; {reads} reads {:.2} us/read; db {} MiB",
            live.len(),
            w * 1e6 / n as f64,
            r * 1e6 / reads as f64,
            dir_size(dir) >> 20
        );
    }
    drop(store);
    println!(
        "{backend} total: {} coins, {batch_no} batches, write {write_s:.1} s ({:.2} us/coin), read {:.2} us/read, db {} MiB, peak RSS {} MiB",
        live.len(),
        write_s * 1e6 / written as f64,
        read_s * 1e6 / read_n as f64,
        dir_size(dir) >> 20,
        peak_rss_mib()
    );
}
