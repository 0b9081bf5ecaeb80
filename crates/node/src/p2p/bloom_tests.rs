//! BIP37 filter tests against the known vectors of Core's bloom tests (hex in, hex out).

use super::*;
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hex::FromHex;

fn hex(s: &str) -> Vec<u8> {
    Vec::from_hex(s).expect("hex")
}

fn txid(s: &str) -> Txid {
    s.parse().expect("txid")
}

/// A real transaction (b4749f01...ff6b) and one spending its first output (e2769b09...0436).
const TX: &str = "01000000010b26e9b7735eb6aabdf358bab62f9816a21ba9ebdb719d5299e88607d722c190000000008b4830450220070aca44506c5cef3a16ed519d7c3c39f8aab192c4e1c90d065f37b8a4af6141022100a8e160b856c2d43d27d8fba71e5aef6405b8643ac4cb7cb3c462aced7f14711a0141046d11fee51b0e60666d5049a9101a72741df480b96ee26488a4d3466b95c9a40ac5eeef87e10a5cd336c19a84565f80fa6c547957b7700ff4dfbdefe76036c339ffffffff021bff3d11000000001976a91404943fdd508053c75000106d3bc6e2754dbcff1988ac2f15de00000000001976a914a266436d2965547608b9e15d9032a7b9d64fa43188ac00000000";
const SPENDING_TX: &str = "01000000016bff7fcd4f8565ef406dd5d63d4ff94f318fe82027fd4dc451b04474019f74b4000000008c493046022100da0dc6aecefe1e06efdf05773757deb168820930e3b0d03f46f5fcf150bf990c022100d25b5c87040076e4f253f8262e763e2dd51e7ff0be157727c4bc42807f17bd39014104e6c26ef67dc610d2cd192484789a6cf9aea9930b944b7e2db5342b9d9e5b9ff79aff9a2ee1978dd7fd01dfc522ee02283d3b06a9d03acf8096968d7dbb0f9178ffffffff028ba7940e000000001976a914badeecfdef0507247fc8f74241d73bc039972d7b88ac4094a802000000001976a914c10932483fec93ed51f5fe95e72559f2cc7043f988ac00000000";
/// Block 000000005a4ded78...4ae6 (4 transactions).
const BLOCK_4TX: &str = "0100000075616236cc2126035fadb38deb65b9102cc2c41c09cdf29fc051906800000000fe7d5e12ef0ff901f6050211249919b1c0653771832b3a80c66cea42847f0ae1d4d26e49ffff001d00f0a4410401000000010000000000000000000000000000000000000000000000000000000000000000ffffffff0804ffff001d029105ffffffff0100f2052a010000004341046d8709a041d34357697dfcb30a9d05900a6294078012bf3bb09c6f9b525f1d16d5503d7905db1ada9501446ea00728668fc5719aa80be2fdfc8a858a4dbdd4fbac00000000010000000255605dc6f5c3dc148b6da58442b0b2cd422be385eab2ebea4119ee9c268d28350000000049483045022100aa46504baa86df8a33b1192b1b9367b4d729dc41e389f2c04f3e5c7f0559aae702205e82253a54bf5c4f65b7428551554b2045167d6d206dfe6a2e198127d3f7df1501ffffffff55605dc6f5c3dc148b6da58442b0b2cd422be385eab2ebea4119ee9c268d2835010000004847304402202329484c35fa9d6bb32a55a70c0982f606ce0e3634b69006138683bcd12cbb6602200c28feb1e2555c3210f1dddb299738b4ff8bbe9667b68cb8764b5ac17b7adf0001ffffffff0200e1f505000000004341046a0765b5865641ce08dd39690aade26dfbf5511430ca428a3089261361cef170e3929a68aee3d8d4848b0c5111b0a37b82b86ad559fd2a745b44d8e8d9dfdc0cac00180d8f000000004341044a656f065871a353f216ca26cef8dde2f03e8c16202d2e8ad769f02032cb86a5eb5e56842e92e19141d60a01928f8dd2c875a390f67c1f6c94cfc617c0ea45afac0000000001000000025f9a06d3acdceb56be1bfeaa3e8a25e62d182fa24fefe899d1c17f1dad4c2028000000004847304402205d6058484157235b06028c30736c15613a28bdb768ee628094ca8b0030d4d6eb0220328789c9a2ec27ddaec0ad5ef58efded42e6ea17c2e1ce838f3d6913f5e95db601ffffffff5f9a06d3acdceb56be1bfeaa3e8a25e62d182fa24fefe899d1c17f1dad4c2028010000004a493046022100c45af050d3cea806cedd0ab22520c53ebe63b987b8954146cdca42487b84bdd6022100b9b027716a6b59e640da50a864d6dd8a0ef24c76ce62391fa3eabaf4d2886d2d01ffffffff0200e1f505000000004341046a0765b5865641ce08dd39690aade26dfbf5511430ca428a3089261361cef170e3929a68aee3d8d4848b0c5111b0a37b82b86ad559fd2a745b44d8e8d9dfdc0cac00180d8f000000004341046a0765b5865641ce08dd39690aade26dfbf5511430ca428a3089261361cef170e3929a68aee3d8d4848b0c5111b0a37b82b86ad559fd2a745b44d8e8d9dfdc0cac000000000100000002e2274e5fea1bf29d963914bd301aa63b64daaf8a3e88f119b5046ca5738a0f6b0000000048473044022016e7a727a061ea2254a6c358376aaa617ac537eb836c77d646ebda4c748aac8b0220192ce28bf9f2c06a6467e6531e27648d2b3e2e2bae85159c9242939840295ba501ffffffffe2274e5fea1bf29d963914bd301aa63b64daaf8a3e88f119b5046ca5738a0f6b010000004a493046022100b7a1a755588d4190118936e15cd217d133b0e4a53c3c15924010d5648d8925c9022100aaef031874db2114f2d869ac2de4ae53908fbfea5b2b1862e181626bb9005c9f01ffffffff0200e1f505000000004341044a656f065871a353f216ca26cef8dde2f03e8c16202d2e8ad769f02032cb86a5eb5e56842e92e19141d60a01928f8dd2c875a390f67c1f6c94cfc617c0ea45afac00180d8f000000004341046a0765b5865641ce08dd39690aade26dfbf5511430ca428a3089261361cef170e3929a68aee3d8d4848b0c5111b0a37b82b86ad559fd2a745b44d8e8d9dfdc0cac00000000";
/// Block 000000000000dab0...dc45 (one transaction) and its serialized `merkleblock`.
const BLOCK_1TX: &str = "0100000079cda856b143d9db2c1caff01d1aecc8630d30625d10e8b4b8b0000000000000b50cc069d6a3e33e3ff84a5c41d9d3febe7c770fdcc96b2c3ff60abe184f196367291b4d4c86041b8fa45d630101000000010000000000000000000000000000000000000000000000000000000000000000ffffffff08044c86041b020a02ffffffff0100f2052a01000000434104ecd3229b0571c3be876feaac0442a9f13c5a572742927af1dc623353ecf8c202225f64868137a18cdd85cbbb4c74fbccfd4f49639cf1bdc94a5672bb15ad5d4cac00000000";
const MERKLEBLOCK_1TX: &str = "0100000079cda856b143d9db2c1caff01d1aecc8630d30625d10e8b4b8b0000000000000b50cc069d6a3e33e3ff84a5c41d9d3febe7c770fdcc96b2c3ff60abe184f196367291b4d4c86041b8fa45d630100000001b50cc069d6a3e33e3ff84a5c41d9d3febe7c770fdcc96b2c3ff60abe184f19630101";

fn serialized(f: &BloomFilter) -> String {
    bitcoin::hex::DisplayHex::to_lower_hex_string(&serialize(&f.to_filterload()))
}

#[test]
fn murmur3_known_values() {
    assert_eq!(murmur3(0, b""), 0);
    assert_eq!(murmur3(0xFBA4_C795, b""), 0x6a39_6f08);
    assert_eq!(murmur3(0xffff_ffff, b""), 0x81f1_6f39);
    assert_eq!(murmur3(0, &hex("00")), 0x514e_28b7);
    assert_eq!(murmur3(0, &hex("0011")), 0x16c6_b7ab);
    assert_eq!(murmur3(0, &hex("001122")), 0x8eb5_1c3d);
    assert_eq!(murmur3(0, &hex("00112233")), 0xb447_1bf8);
    assert_eq!(murmur3(0, &hex("001122334455667788")), 0xb469_8def);
}

fn three_elements(tweak: u32) -> BloomFilter {
    let mut f = BloomFilter::new(3, 0.01, tweak, BLOOM_UPDATE_ALL);
    f.insert(&hex("99108ad8ed9bb6274d3980bab5a85c048f0950c8"));
    assert!(f.contains(&hex("99108ad8ed9bb6274d3980bab5a85c048f0950c8")));
    assert!(!f.contains(&hex("19108ad8ed9bb6274d3980bab5a85c048f0950c8")), "one bit different");
    f.insert(&hex("b5a2c786d9ef4658287ced5914b37a1b4aa32eee"));
    assert!(f.contains(&hex("b5a2c786d9ef4658287ced5914b37a1b4aa32eee")));
    f.insert(&hex("b9300670b4c5366e95b2699e8b18bc75e5f729c5"));
    assert!(f.contains(&hex("b9300670b4c5366e95b2699e8b18bc75e5f729c5")));
    f
}

#[test]
fn create_insert_serialize() {
    assert_eq!(serialized(&three_elements(0)), "03614e9b050000000000000001");
    assert_eq!(serialized(&three_elements(2_147_483_649)), "03ce4299050000000100008001");
}

#[test]
fn filterload_round_trip_and_limits() {
    let f = three_elements(7);
    assert_eq!(BloomFilter::from(f.to_filterload()), f);
    assert!(f.is_within_size_constraints());
    let max = BloomFilter::new(1_000_000, 0.000_001, 0, BLOOM_UPDATE_NONE);
    assert!(max.is_within_size_constraints(), "the constructor caps at the limits");
    let mut big = max.to_filterload();
    big.filter.push(0);
    assert!(!BloomFilter::from(big).is_within_size_constraints());
    let mut many = f.to_filterload();
    many.hash_funcs = MAX_HASH_FUNCS + 1;
    assert!(!BloomFilter::from(many).is_within_size_constraints());
    assert_eq!(flags_from_byte(3), BloomFlags::None);
    assert_eq!(flags_from_byte(5), BloomFlags::All);
}

#[test]
fn empty_filter_matches_everything() {
    let mut f = BloomFilter::from(FilterLoad {
        filter: vec![],
        hash_funcs: 0,
        tweak: 0,
        flags: BloomFlags::None,
    });
    f.insert(b"x");
    assert!(f.contains(b"anything"));
}

/// One way of filling a filter, for tables of cases.
type Fill = Box<dyn Fn(&mut BloomFilter)>;

fn fresh() -> BloomFilter {
    BloomFilter::new(10, 0.000_001, 0, BLOOM_UPDATE_ALL)
}

#[test]
fn transaction_matching() {
    let tx: Transaction = deserialize(&hex(TX)).unwrap();
    let spending: Transaction = deserialize(&hex(SPENDING_TX)).unwrap();
    let prev = OutPoint::new(txid("90c122d70786e899529d71dbeba91ba216982fb6ba58f3bdaab65e73b7e9260b"), 0);
    let matching: Vec<Fill> = vec![
        Box::new(|f| f.insert(txid("b4749f017444b051c44dfd2720e88f314ff94f3dd6d56d40ef65854fcd7fff6b").as_byte_array())),
        Box::new(|f| f.insert(&hex("6bff7fcd4f8565ef406dd5d63d4ff94f318fe82027fd4dc451b04474019f74b4"))),
        Box::new(|f| {
            f.insert(&hex("30450220070aca44506c5cef3a16ed519d7c3c39f8aab192c4e1c90d065f37b8a4af6141022100a8e160b856c2d43d27d8fba71e5aef6405b8643ac4cb7cb3c462aced7f14711a01"))
        }),
        Box::new(|f| {
            f.insert(&hex("046d11fee51b0e60666d5049a9101a72741df480b96ee26488a4d3466b95c9a40ac5eeef87e10a5cd336c19a84565f80fa6c547957b7700ff4dfbdefe76036c339"))
        }),
        Box::new(|f| f.insert(&hex("a266436d2965547608b9e15d9032a7b9d64fa431"))),
        Box::new(move |f| f.insert_outpoint(&prev)),
    ];
    for (i, add) in matching.iter().enumerate() {
        let mut f = fresh();
        add(&mut f);
        assert!(f.is_relevant_and_update(&tx), "case {i} should match");
    }
    // An output's address: the output is added, so the spending transaction matches too.
    let mut f = fresh();
    f.insert(&hex("04943fdd508053c75000106d3bc6e2754dbcff19"));
    assert!(f.is_relevant_and_update(&tx));
    assert!(f.is_relevant_and_update(&spending), "matched output not added");
    let missing: Vec<Fill> = vec![
        Box::new(|f| f.insert(txid("00000009e784f32f62ef849763d4f45b98e07ba658647343b915ff832b110436").as_byte_array())),
        Box::new(|f| f.insert(&hex("0000006d2965547608b9e15d9032a7b9d64fa431"))),
        Box::new(move |f| f.insert_outpoint(&OutPoint::new(prev.txid, 1))),
        Box::new(|f| {
            f.insert_outpoint(&OutPoint::new(
                txid("000000d70786e899529d71dbeba91ba216982fb6ba58f3bdaab65e73b7e9260b"),
                0,
            ))
        }),
    ];
    for (i, add) in missing.iter().enumerate() {
        let mut f = fresh();
        add(&mut f);
        assert!(!f.is_relevant_and_update(&tx), "case {i} should not match");
    }
}

fn matched_txids(mb: &MerkleBlock, block: &Block) -> Vec<Txid> {
    let (mut m, mut idx) = (Vec::new(), Vec::new());
    mb.extract_matches(&mut m, &mut idx)
        .expect("proof against the header's merkle root");
    assert_eq!(mb.header.block_hash(), block.block_hash());
    m
}

fn four_tx_block_matches(flags: u8) -> (Vec<usize>, Vec<usize>) {
    let block: Block = deserialize(&hex(BLOCK_4TX)).unwrap();
    let mut f = BloomFilter::new(10, 0.000_001, 0, flags);
    f.insert(txid("e980fe9f792d014e73b95203dc1335c5f9ce19ac537a419e6df5b47aecb93b70").as_byte_array());
    let (mb, first) = f.merkle_block(&block);
    assert_eq!(matched_txids(&mb, &block), [block.txdata[0].compute_txid()]);
    // The pubkey of an output of the second transaction.
    f.insert(&hex("044a656f065871a353f216ca26cef8dde2f03e8c16202d2e8ad769f02032cb86a5eb5e56842e92e19141d60a01928f8dd2c875a390f67c1f6c94cfc617c0ea45af"));
    let (mb, second) = f.merkle_block(&block);
    let want: Vec<Txid> = second.iter().map(|i| block.txdata[*i].compute_txid()).collect();
    assert_eq!(matched_txids(&mb, &block), want);
    (first, second)
}

#[test]
fn merkle_block_update_all_follows_spends() {
    let (first, second) = four_tx_block_matches(BLOOM_UPDATE_ALL);
    assert_eq!(first, [0]);
    // The third transaction spends the matched output; the fourth pays the pubkey again.
    assert_eq!(second, [0, 1, 2, 3]);
}

#[test]
fn merkle_block_update_none_does_not() {
    let (_, second) = four_tx_block_matches(BLOOM_UPDATE_NONE);
    assert_eq!(second, [0, 1, 3]);
}

#[test]
fn merkle_block_update_p2pubkey_only_follows_p2pk() {
    // The matched output is pay-to-pubkey, so its outpoint is added as with UPDATE_ALL.
    let (_, second) = four_tx_block_matches(BLOOM_UPDATE_P2PUBKEY_ONLY);
    assert_eq!(second, [0, 1, 2, 3]);
}

#[test]
fn merkle_block_serializes_as_core() {
    let block: Block = deserialize(&hex(BLOCK_1TX)).unwrap();
    let mut f = fresh();
    f.insert(txid("63194f18be0af63f2c6bc9dc0f777cbefed3d9415c4af83f3ee3a3d669c00cb5").as_byte_array());
    let (mb, matched) = f.merkle_block(&block);
    assert_eq!(matched, [0]);
    assert_eq!(serialize(&mb), hex(MERKLEBLOCK_1TX));
}
