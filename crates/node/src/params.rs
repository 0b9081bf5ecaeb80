//! Per-network consensus and node parameters (genesis, magic, ports, buried deployment heights).

use bitcoin::blockdata::constants::genesis_block;
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, Network};
use std::str::FromStr;

/// Consensus and node parameters for one network; the single source of per-network constants.
#[derive(Debug, Clone)]
pub struct ChainParams {
    /// Which network these parameters describe.
    pub network: Network,
    /// rust-bitcoin's consensus parameters (pow limit, timespans, retarget flags).
    pub consensus: &'static bitcoin::consensus::Params,
    /// Name used for the datadir subdirectory and `getblockchaininfo.chain` ("main", "test", ...).
    pub chain_name: &'static str,
    /// Subdirectory of the datadir holding this network's data ("" for mainnet, as in Core).
    pub data_subdir: &'static str,
    /// Default P2P port.
    pub default_port: u16,
    /// Default JSON-RPC port.
    pub rpc_port: u16,
    /// Height from which BIP34 (height in coinbase, version >= 2) is enforced.
    pub bip34_height: u32,
    /// Hash of the block at `bip34_height`, used for the BIP30 skip rule (None disables the skip).
    pub bip34_hash: Option<BlockHash>,
    /// Height from which BIP65 (CHECKLOCKTIMEVERIFY, version >= 4) is enforced.
    pub bip65_height: u32,
    /// Height from which BIP66 (strict DER, version >= 3) is enforced.
    pub bip66_height: u32,
    /// Height from which BIP68/112/113 (CSV) are enforced.
    pub csv_height: u32,
    /// Height from which segwit (BIP141/143/147) is enforced.
    pub segwit_height: u32,
    /// BIP94 rules (testnet4): timewarp protection and first-block difficulty base.
    pub enforce_bip94: bool,
    /// Blocks whose script flags differ from the height rule (historic exceptions).
    pub script_flag_exceptions: Vec<(BlockHash, crate::script_flags::ScriptFlags)>,
    /// Heights of the two historic blocks that duplicate earlier coinbases (BIP30 exceptions).
    pub bip30_exception_heights: Vec<(u32, BlockHash)>,
    /// Halving interval in blocks.
    pub subsidy_halving_interval: u32,
    /// A known point of the chain's transaction history, for estimating verification progress.
    pub tx_data: ChainTxData,
    /// Blocks whose UTXO snapshots `loadtxoutset` accepts, with their expected hashes.
    pub assumeutxo: Vec<AssumeutxoData>,
}

/// Core's `ChainTxData`: the transaction count at a recent time and the rate since, so that
/// verification progress can be estimated before the node has seen the whole chain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainTxData {
    /// UNIX time of the data point.
    pub time: i64,
    /// Transactions in the chain up to then.
    pub tx_count: u64,
    /// Estimated transactions per second after that.
    pub tx_rate: f64,
}

/// BIP30 is re-enforced from this height even where BIP34 implies it (Core's BIP34_IMPLIES_BIP30_LIMIT).
pub const BIP34_IMPLIES_BIP30_LIMIT: u32 = 1_983_702;

/// Parses Core's `-minimumchainwork` value: up to 64 hex digits, optional `0x`.
pub fn parse_work(s: &str) -> Option<bitcoin::Work> {
    let hex = s.strip_prefix("0x").unwrap_or(s);
    if hex.is_empty() || hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{hex:0>64}");
    let mut be = [0u8; 32];
    for (i, b) in be.iter_mut().enumerate() {
        *b = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(bitcoin::Work::from_be_bytes(be))
}

fn h(s: &str) -> BlockHash {
    // Constant, well-formed literals only; a typo here is a programming error caught by tests.
    BlockHash::from_str(s).unwrap_or_else(|_| BlockHash::all_zeros())
}

/// One of Core's assumeutxo entries (`m_assumeutxo_data`): a block whose UTXO set snapshot
/// `loadtxoutset` may load, and Core's hash_serialized_3 of that set, which the loaded coins
/// must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeutxoData {
    /// Height of the snapshot's base block.
    pub height: u32,
    /// hash_serialized_3 of the UTXO set at that block, in Core's display hex.
    pub hash_serialized: String,
    /// Transactions in the chain up to and including the base block.
    pub chain_tx_count: u64,
    /// The base block's hash.
    pub blockhash: BlockHash,
}

fn au(height: u32, hash_serialized: &str, chain_tx_count: u64, blockhash: &str) -> AssumeutxoData {
    AssumeutxoData {
        height,
        hash_serialized: hash_serialized.to_string(),
        chain_tx_count,
        blockhash: h(blockhash),
    }
}

/// Core 31's assumeutxo entries of `network` (kernel/chainparams.cpp), lowest height first.
fn assumeutxo_data(network: Network) -> Vec<AssumeutxoData> {
    match network {
        Network::Bitcoin => vec![
            au(
                840_000,
                "a2a5521b1b5ab65f67818e5e8eccabb7171a517f9e2382208f77687310768f96",
                991_032_194,
                "0000000000000000000320283a032748cef8227873ff4872689bf23f1cda83a5",
            ),
            au(
                880_000,
                "dbd190983eaf433ef7c15f78a278ae42c00ef52e0fd2a54953782175fbadcea9",
                1_145_604_538,
                "000000000000000000010b17283c3c400507969a9c2afd1dcf2082ec5cca2880",
            ),
            au(
                910_000,
                "4daf8a17b4902498c5787966a2b51c613acdab5df5db73f196fa59a4da2f1568",
                1_226_586_151,
                "0000000000000000000108970acb9522ffd516eae17acddcb1bd16469194a821",
            ),
            au(
                935_000,
                "e4b90ef9eae834f56c4b64d2d50143cee10ad87994c614d7d04125e2a6025050",
                1_305_397_408,
                "0000000000000000000147034958af1652b2b91bba607beacc5e72a56f0fb5ee",
            ),
        ],
        Network::Testnet => vec![
            au(
                2_500_000,
                "f841584909f68e47897952345234e37fcd9128cd818f41ee6c3ca68db8071be7",
                66_484_552,
                "0000000000000093bcb68c03a9a168ae252572d348a2eaeba2cdf9231d73206f",
            ),
            au(
                4_840_000,
                "ce6bb677bb2ee9789c4a1c9d73e6683c53fc20e8fdbedbdaaf468982a0c8db2a",
                536_078_574,
                "00000000000000f4971a7fb37fbdff89315b69a2e1920c467654a382f0d64786",
            ),
        ],
        Network::Testnet4 => vec![
            au(
                90_000,
                "784fb5e98241de66fdd429f4392155c9e7db5c017148e66e8fdbc95746f8b9b5",
                11_347_043,
                "0000000002ebe8bcda020e0dd6ccfbdfac531d2f6a81457191b99fc2df2dbe3b",
            ),
            au(
                120_000,
                "10b05d05ad468d0971162e1b222a4aa66caca89da2bb2a93f8f37fb29c4794b0",
                14_141_057,
                "000000000bd2317e51b3c5794981c35ba894ce27d3e772d5c39ecd9cbce01dc8",
            ),
        ],
        Network::Signet => vec![
            au(
                160_000,
                "fe0a44309b74d6b5883d246cb419c6221bcccf0b308c9b59b7d70783dbdf928a",
                2_289_496,
                "0000003ca3c99aff040f2563c2ad8f8ec88bd0fd6b8f0895cfaf1ef90353a62c",
            ),
            au(
                290_000,
                "97267e000b4b876800167e71b9123f1529d13b14308abec2888bbd2160d14545",
                28_547_497,
                "0000000577f2741bb30cd9d39d6d71b023afbeb9764f6260786a97969d5c9ac0",
            ),
        ],
        _ => vec![
            au(
                110,
                "86e9a1205b418b16dde3a18a78c730e30137e28466bda5dbf6b33ab8fc05447c",
                111,
                "135eec25a6fb277884e5824e7aa7d052c4868161c99a5122170b5266f86c273d",
            ),
            au(
                200,
                "17dcc016d188d16068907cdeb38b75691a118d43053b8cd6a25969419381d13a",
                201,
                "385901ccbd69dff6bbd00065d01fb8a9e464dede7cfe0372443884f9b1dcf6b9",
            ),
            au(
                299,
                "106b2c56233e378a824cf0d5ff2be42ed32c72f1605c9be288d00942908a40ac",
                334,
                "0c552ced4721c249a389eb9b08cb8da261cd46f0e7b5f9d064d48f3113406853",
            ),
        ],
    }
}

impl ChainParams {
    /// Whether segwit (BIP141/143/147) is enforced for a block at `height`: its witness
    /// commitment, scripts and coinbase witness depend on it.
    pub fn segwit_enforced_at(&self, height: u32) -> bool {
        height >= self.segwit_height
    }

    /// Applies Core's `-testactivationheight=name@height` (regtest): moves a buried deployment
    /// (segwit, bip34, dersig, cltv, csv) to `height`. The error is Core's wording.
    pub fn set_test_activation_height(&mut self, arg: &str) -> Result<(), String> {
        let (name, h) = arg
            .split_once('@')
            .ok_or_else(|| format!("Invalid format ({arg}) for -testactivationheight=name@height."))?;
        let height = h
            .parse::<i32>()
            .ok()
            .and_then(|h| u32::try_from(h).ok())
            .filter(|h| *h < i32::MAX as u32)
            .ok_or_else(|| format!("Invalid height value ({arg}) for -testactivationheight=name@height."))?;
        match name {
            "segwit" => self.segwit_height = height,
            "bip34" => self.bip34_height = height,
            "dersig" => self.bip66_height = height,
            "cltv" => self.bip65_height = height,
            "csv" => self.csv_height = height,
            _ => return Err(format!("Invalid name ({arg}) for -testactivationheight=name@height.")),
        }
        Ok(())
    }

    /// Adds an assumeutxo entry from `-testassumeutxo=height:blockhash:hash_serialized:chain_tx_count`
    /// (regtest), so a snapshot of a test chain can be loaded; an entry at the same height is
    /// replaced.
    pub fn add_test_assumeutxo(&mut self, arg: &str) -> Result<(), String> {
        let bad = || format!("Invalid format ({arg}) for -testassumeutxo=height:blockhash:hash_serialized:chain_tx_count.");
        let parts: Vec<&str> = arg.split(':').collect();
        let [height, blockhash, hash_serialized, chain_tx_count] = parts[..] else {
            return Err(bad());
        };
        let height: u32 = height.parse().map_err(|_| bad())?;
        let blockhash = BlockHash::from_str(blockhash).map_err(|_| bad())?;
        let valid_hash = hash_serialized.len() == 64 && hash_serialized.bytes().all(|b| b.is_ascii_hexdigit());
        let chain_tx_count: u64 = chain_tx_count.parse().map_err(|_| bad())?;
        if !valid_hash || height == 0 {
            return Err(bad());
        }
        self.assumeutxo.retain(|a| a.height != height);
        self.assumeutxo.push(AssumeutxoData {
            height,
            hash_serialized: hash_serialized.to_ascii_lowercase(),
            chain_tx_count,
            blockhash,
        });
        self.assumeutxo.sort_by_key(|a| a.height);
        Ok(())
    }

    /// Core's `nMinimumChainWork` for this network: the anti-DoS floor below which a peer's
    /// header chain is pre-synced instead of stored. These are Core v27's values (blocks
    /// 824,000 / 2,550,000 / 180,000); newer Core releases raise them, and a lower floor only
    /// means less protection, never a rejected honest chain. testnet4 and regtest: none yet.
    pub fn default_minimum_chain_work(&self) -> bitcoin::Work {
        let hex = match self.network {
            Network::Bitcoin => "63c4ebd298db40af57541800",
            Network::Testnet => "0c59b14e264ba6c15db9",
            Network::Signet => "0206e86f08e8",
            _ => "00",
        };
        parse_work(hex).unwrap_or(bitcoin::Work::from_be_bytes([0; 32]))
    }

    /// Core's `defaultAssumeValid` for this network (`-assumevalid` unset): Core v27's blocks
    /// 824,000 (main), 2,550,000 (testnet3) and 180,000 (signet), paired with the v27 minimum
    /// chain work above; testnet4's is Core v28's (block 39,550, its first release); regtest none.
    pub fn default_assume_valid(&self) -> Option<BlockHash> {
        match self.network {
            Network::Bitcoin => Some(h("000000000000000000026811d149d4d261995ec5b3f64f439a0a10e1a464af9a")),
            Network::Testnet => Some(h("000000000001323071f38f21ea5aae529ece491eadaccce506a59bcc2d968917")),
            Network::Testnet4 => Some(h("000000005be348057db991fa5d89fe7c4695b667cfb311391a8db374b6f681fd")),
            Network::Signet => Some(h("0000000870f15246ba23c16e370a7ffb1fc8a3dcf8cb4492882ed4b0e3d4cd26")),
            _ => None,
        }
    }

    /// Parameters for `network`.
    pub fn for_network(network: Network) -> Self {
        use crate::script_flags::{VERIFY_NONE, VERIFY_P2SH, VERIFY_WITNESS};
        let consensus = network.params();
        match network {
            Network::Bitcoin => ChainParams {
                network,
                consensus,
                chain_name: "main",
                data_subdir: "",
                default_port: 8333,
                rpc_port: 8332,
                bip34_height: 227_931,
                bip34_hash: Some(h("000000000000024b89b42a942fe0d9fea3bb44ab7bd1b19115dd6a759c0808b8")),
                bip65_height: 388_381,
                bip66_height: 363_725,
                csv_height: 419_328,
                segwit_height: 481_824,
                enforce_bip94: false,
                script_flag_exceptions: vec![
                    (h("00000000000002dc756eebf4f49723ed8d30cc28a5f108eb94b1ba88ac4f9c22"), VERIFY_NONE),
                    (
                        h("0000000000000000000f14c35b2d841e986ab5441de8c585d5ffe55ea1e395ad"),
                        VERIFY_P2SH | VERIFY_WITNESS,
                    ),
                ],
                bip30_exception_heights: vec![
                    (91_842, h("00000000000a4d0a398161ffc163c503763b1f4360639393e0e4c8e300e0caec")),
                    (91_880, h("00000000000743f190a18c5577a3c2d2a1f610ae9601ac046a38084ccb7cd721")),
                ],
                subsidy_halving_interval: 210_000,
                assumeutxo: assumeutxo_data(Network::Bitcoin),
                // Core's value (chainparams, getchaintxstats 4096 at the time).
                tx_data: ChainTxData {
                    time: 1772055173,
                    tx_count: 1315805869,
                    tx_rate: 5.40111006496122,
                },
            },
            Network::Testnet => ChainParams {
                network,
                consensus,
                chain_name: "test",
                data_subdir: "testnet3",
                default_port: 18333,
                rpc_port: 18332,
                bip34_height: 21_111,
                bip34_hash: Some(h("0000000023b3a96d3484e5abb3755c413e7d41500f8e2a5c3f0dd01299cd8ef8")),
                bip65_height: 581_885,
                bip66_height: 330_776,
                csv_height: 770_112,
                segwit_height: 834_624,
                enforce_bip94: false,
                script_flag_exceptions: vec![(h("00000000dd30457c001f4095d208cc1296b0eed002427aa599874af7a432b105"), VERIFY_NONE)],
                bip30_exception_heights: vec![],
                subsidy_halving_interval: 210_000,
                assumeutxo: assumeutxo_data(Network::Testnet),
                // Core's value (chainparams, getchaintxstats 4096 at the time).
                tx_data: ChainTxData {
                    time: 1772051651,
                    tx_count: 536108416,
                    tx_rate: 0.02691479016257117,
                },
            },
            Network::Testnet4 => ChainParams {
                network,
                consensus,
                chain_name: "testnet4",
                data_subdir: "testnet4",
                default_port: 48333,
                rpc_port: 48332,
                bip34_height: 1,
                bip34_hash: None,
                bip65_height: 1,
                bip66_height: 1,
                csv_height: 1,
                segwit_height: 1,
                enforce_bip94: true,
                script_flag_exceptions: vec![],
                bip30_exception_heights: vec![],
                subsidy_halving_interval: 210_000,
                assumeutxo: assumeutxo_data(Network::Testnet4),
                // Core's value (chainparams, getchaintxstats 4096 at the time).
                tx_data: ChainTxData {
                    time: 1772013387,
                    tx_count: 14191421,
                    tx_rate: 0.01848579579528412,
                },
            },
            Network::Signet => ChainParams {
                network,
                consensus,
                chain_name: "signet",
                data_subdir: "signet",
                default_port: 38333,
                rpc_port: 38332,
                bip34_height: 1,
                bip34_hash: None,
                bip65_height: 1,
                bip66_height: 1,
                csv_height: 1,
                segwit_height: 1,
                enforce_bip94: false,
                script_flag_exceptions: vec![],
                bip30_exception_heights: vec![],
                subsidy_halving_interval: 210_000,
                assumeutxo: assumeutxo_data(Network::Signet),
                // Core's value (chainparams, getchaintxstats 4096 at the time).
                tx_data: ChainTxData {
                    time: 1772055248,
                    tx_count: 28676833,
                    tx_rate: 0.06736623436338929,
                },
            },
            _ => ChainParams {
                network: Network::Regtest,
                consensus: Network::Regtest.params(),
                chain_name: "regtest",
                data_subdir: "regtest",
                default_port: 18444,
                rpc_port: 18443,
                bip34_height: 1,
                bip34_hash: None,
                bip65_height: 1,
                bip66_height: 1,
                csv_height: 1,
                segwit_height: 0,
                enforce_bip94: false,
                script_flag_exceptions: vec![],
                bip30_exception_heights: vec![],
                subsidy_halving_interval: 150,
                assumeutxo: assumeutxo_data(Network::Regtest),
                // Core's value (regtest: a non-zero rate so that progress is testable).
                tx_data: ChainTxData {
                    time: 0,
                    tx_count: 0,
                    tx_rate: 0.001,
                },
            },
        }
    }

    /// The assumeutxo entry for the block at `height`, if any (Core's AssumeutxoForHeight).
    pub fn assumeutxo_for_height(&self, height: u32) -> Option<&AssumeutxoData> {
        self.assumeutxo.iter().find(|a| a.height == height)
    }

    /// The assumeutxo entry for block `hash`, if any (Core's AssumeutxoForBlockhash).
    pub fn assumeutxo_for_blockhash(&self, hash: &BlockHash) -> Option<&AssumeutxoData> {
        self.assumeutxo.iter().find(|a| a.blockhash == *hash)
    }

    /// Heights with an assumeutxo entry (Core's GetAvailableSnapshotHeights).
    pub fn available_snapshot_heights(&self) -> Vec<u32> {
        self.assumeutxo.iter().map(|a| a.height).collect()
    }

    /// The network's genesis block.
    pub fn genesis(&self) -> Block {
        genesis_block(self.network)
    }

    /// The genesis block's hash, without building and hashing the block (per-block paths ask).
    pub fn genesis_hash(&self) -> BlockHash {
        BlockHash::from_byte_array(bitcoin::constants::ChainHash::using_genesis_block_const(self.network).to_bytes())
    }

    /// The 4-byte network magic that frames P2P messages and block files.
    pub fn magic(&self) -> [u8; 4] {
        self.network.magic().to_bytes()
    }

    /// Blocks between difficulty retargets: 2016, but 144 on regtest, whose target timespan in
    /// Core is one day (rust-bitcoin's regtest parameters keep two weeks). Regtest never
    /// retargets; the interval still places BIP94's timewarp rule and getnetworkhashps' window.
    pub fn difficulty_adjustment_interval(&self) -> u32 {
        if self.network == Network::Regtest {
            return 144;
        }
        (self.consensus.pow_target_timespan / self.consensus.pow_target_spacing) as u32
    }

    /// Block subsidy at `height` in satoshis.
    pub fn subsidy(&self, height: u32) -> u64 {
        let halvings = height / self.subsidy_halving_interval;
        if halvings >= 64 {
            return 0;
        }
        (50 * 100_000_000u64) >> halvings
    }

    /// Parses Core's chain names ("main", "test", "testnet4", "signet", "regtest").
    pub fn network_from_chain_name(name: &str) -> Option<Network> {
        match name {
            "main" | "mainnet" | "bitcoin" => Some(Network::Bitcoin),
            "test" | "testnet" | "testnet3" => Some(Network::Testnet),
            "testnet4" => Some(Network::Testnet4),
            "signet" => Some(Network::Signet),
            "regtest" => Some(Network::Regtest),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_hashes_match_core() {
        let reg = ChainParams::for_network(Network::Regtest);
        assert_eq!(
            reg.genesis().block_hash().to_string(),
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        );
        assert_eq!(reg.magic(), [0xfa, 0xbf, 0xb5, 0xda]);
        let main = ChainParams::for_network(Network::Bitcoin);
        assert_eq!(
            main.genesis().block_hash().to_string(),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
        assert_ne!(main.bip34_hash, Some(BlockHash::all_zeros()));
        for n in [
            Network::Bitcoin,
            Network::Testnet,
            Network::Testnet4,
            Network::Signet,
            Network::Regtest,
        ] {
            let p = ChainParams::for_network(n);
            assert_eq!(p.genesis_hash(), p.genesis().block_hash(), "{n}");
        }
    }

    /// Core's regtest assumeutxo entries, found by height and by block hash.
    #[test]
    fn regtest_assumeutxo_entries() {
        let reg = ChainParams::for_network(Network::Regtest);
        assert_eq!(reg.available_snapshot_heights(), vec![110, 200, 299]);
        let a = reg.assumeutxo_for_height(299).unwrap();
        assert_eq!(
            a.hash_serialized,
            "106b2c56233e378a824cf0d5ff2be42ed32c72f1605c9be288d00942908a40ac"
        );
        assert_eq!(a.chain_tx_count, 334);
        assert_eq!(reg.assumeutxo_for_blockhash(&a.blockhash), Some(a));
        assert!(reg.assumeutxo_for_height(300).is_none());
        let mut test = reg.clone();
        let arg = format!("300:{}:{}:301", a.blockhash, a.hash_serialized);
        test.add_test_assumeutxo(&arg).unwrap();
        assert_eq!(test.available_snapshot_heights(), vec![110, 200, 299, 300]);
        assert_eq!(test.assumeutxo_for_height(300).map(|e| e.chain_tx_count), Some(301));
        assert!(test.add_test_assumeutxo("300:zz:00:1").is_err());
        assert!(test
            .add_test_assumeutxo(&format!("300:{}:{}", a.blockhash, a.hash_serialized))
            .is_err());
        assert_eq!(
            ChainParams::for_network(Network::Bitcoin).available_snapshot_heights(),
            vec![840_000, 880_000, 910_000, 935_000]
        );
    }

    #[test]
    fn subsidy_halves() {
        let reg = ChainParams::for_network(Network::Regtest);
        assert_eq!(reg.subsidy(149), 5_000_000_000);
        assert_eq!(reg.subsidy(150), 2_500_000_000);
        assert_eq!(reg.difficulty_adjustment_interval(), 144);
        assert_eq!(ChainParams::for_network(Network::Testnet4).difficulty_adjustment_interval(), 2016);
    }
}
