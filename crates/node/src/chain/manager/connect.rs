//! Connecting and disconnecting the active tip: every consensus rule of spending a block's
//! inputs (coins, amounts, locks, sigops, scripts), its undo data, and `testblockvalidity`.

use super::*;
use crate::validation::script_error::block_script_reject;
use crate::validation::tx_inputs::check_tx_inputs;
use std::sync::Arc;

impl ChainManager {
    /// Connects `block` on top of the active tip. Consensus failures leave everything unchanged.
    pub(super) fn connect_tip(&mut self, block: &Block) -> Result<Result<(), Reject>, ChainError> {
        let hash = block.block_hash();
        let height = self.height() + 1;
        let checked = match self.check_connect(block)? {
            Ok(c) => c,
            Err(r) => return Ok(Err(r)),
        };
        let ConnectChecked {
            applied,
            undo,
            undo_kept,
            spent_all,
        } = checked;
        // Every rule passed and the changes are in the cache: persist the undo data (or take
        // the changes back if it cannot be written).
        let data_file = self.index.get(&hash).and_then(|e| e.data_pos).map(|p| p.file).unwrap_or(0);
        let undo_pos = match self.files.write_undo(data_file, &hash, undo) {
            Ok(pos) => pos,
            Err(e) => {
                self.cs.coins.revert(applied);
                return Err(e.into());
            }
        };
        drop(applied);
        if let Some(e) = self.index.get_mut(&hash) {
            e.status |= status::HAVE_UNDO | status::VALID_SCRIPTS;
            e.undo_pos = Some(undo_pos);
        }
        self.dirty_index.insert(hash);
        self.cs.active.push(hash, block.txdata.len() as u32);
        // The indexes follow the validated chainstate only, as Core's (a snapshot chainstate's
        // blocks are indexed once background validation completes).
        let indexed = self.cs.validated;
        if let Some(t) = self.txindex.as_mut().filter(|_| indexed) {
            t.add_block(hash, block);
        }
        if let Some(undo) = undo_kept.as_ref().filter(|_| indexed) {
            // Kept by the checks when the index is on, so it is never decoded again.
            self.coinstats_connect(hash, height, block, undo);
        }
        if self.filters.is_some() && indexed {
            self.record_filter(hash, block, &spent_all)?;
        }
        self.notifications.push(ChainNotification::BlockConnected {
            hash,
            height,
            n_tx: block.txdata.len() as u32,
        });
        // One line per connected block (`-debug=chain`), as Core's UpdateTip: with
        // `-logtimemicros` it gives the time per block that the UTXO-scale bench reads.
        tracing::debug!(
            height,
            best = %hash,
            tx = block.txdata.len(),
            cache_mib = self.cache_usage() >> 20,
            "UpdateTip: connected block"
        );
        self.flush_if_cache_full()?;
        Ok(Ok(()))
    }

    /// Core's TestBlockValidity: whether `block` would connect on the active tip, with every
    /// rule checked (proof of work only if `check_pow`) and nothing stored or changed.
    pub fn test_block_validity(&mut self, block: &Block, check_pow: bool) -> Result<Result<(), Reject>, ChainError> {
        let tip = self.tip().clone();
        if block.header.prev_blockhash != tip.hash {
            return Ok(Err(Reject::new("inconclusive-not-best-prevblk", "")));
        }
        if check_pow {
            if let Err(r) = check_proof_of_work(&block.header, &self.params) {
                return Ok(Err(r));
            }
        }
        let ctx = self.parent_context(&tip, block.header.time);
        let prev_mtp = self.median_time_past(&tip.hash);
        let checked = contextual_check_header(&block.header, &ctx, &self.params, (self.settings.clock)())
            .and_then(|_| check_block_body(block))
            .and_then(|_| contextual_check_block(block, tip.height + 1, prev_mtp, &self.params));
        if let Err(r) = checked {
            return Ok(Err(r));
        }
        // Nothing may stay changed: the block's changes are taken back out of the cache.
        Ok(self.check_connect(block)?.map(|checked| self.cs.coins.revert(checked.applied)))
    }

    /// The txids of `block`, computed ahead on the import reader thread when the block was
    /// prepared, else here.
    /// Taken, not copied: a block is connected once per preparation (any later use computes them).
    fn block_txids(&mut self, hash: &BlockHash, block: &Block) -> Vec<bitcoin::Txid> {
        match self
            .prepared
            .as_mut()
            .filter(|f| f.hash == *hash && f.txids.len() == block.txdata.len())
        {
            Some(f) => std::mem::take(&mut f.txids),
            None => crate::validation::block_check::txids(block),
        }
    }

    /// Every rule of connecting `block` on the active tip (coins, amounts, locks, sigops,
    /// scripts), leaving the chainstate unchanged: what connecting it would change, if valid.
    pub(super) fn check_connect(&mut self, block: &Block) -> Result<Result<ConnectChecked, Reject>, ChainError> {
        let hash = block.block_hash();
        let height = self.height() + 1;
        let prev_mtp = self.mtp_at(height - 1);
        let enforce_bip30 = self.bip30_enforced(height, &hash);
        let flags = block_script_flags(&self.params, height, &hash);
        let check_scripts = !self.scripts_assumed_valid(&hash, height);
        let csv = height >= self.params.csv_height;
        let reader = self.cs.coins_db(&self.db).coin_reader()?;
        let db_path = self.cs.coins_db(&self.db).path().to_path_buf();
        // Each txid once, for the prefetch, the BIP30 check and the outputs below.
        let txids = self.block_txids(&hash, block);
        // The block as the interpreter parsed it ahead, if it was: its transactions are
        // checked without being serialized and parsed again one by one.
        let parsed = self.prepared.as_ref().filter(|f| f.hash == hash).and_then(|f| f.kernel.clone());
        let fetch = self.prefetch.start(block, &txids, &self.cs.coins, self.cs.coins_db(&self.db))?;
        let mut view = BlockView::new(&mut self.cs.coins, &reader, &db_path).with_prefetch(fetch);
        let mut undo = BlockUndo::default();
        let mut spent_all: Vec<Arc<Vec<TxOut>>> = Vec::with_capacity(block.txdata.len());
        // Scripts are checked on the queue's threads as each transaction's inputs are known;
        // the result is taken only once every other rule of the block passed.
        let mut scripts = check_scripts.then(|| self.script_queue.session());
        let script_cache = &self.script_cache;
        let mut fees: u64 = 0;
        let mut sigops: u64 = 0;
        // BIP30's answer per output of the block, in block order: whether it may be fresh.
        let mut fresh_outputs: Vec<bool> = Vec::new();
        let mut outputs_before = 0usize;
        let active = &self.cs.active;
        let index = &self.index;
        let mtp_of = |h: u32| -> i64 {
            let mut times = Vec::with_capacity(11);
            let mut hh = h as i64;
            while hh >= 0 && times.len() < 11 {
                if let Some(e) = active.get(hh as usize).and_then(|x| index.get(x)) {
                    times.push(e.header.time);
                }
                hh -= 1;
            }
            median_time(times)
        };

        if enforce_bip30 {
            for (tx, &txid) in block.txdata.iter().zip(&txids) {
                let db_lacks_txid = view.db_lacks_txid(&txid)?;
                for vout in 0..tx.output.len() as u32 {
                    let op = OutPoint { txid, vout };
                    match view.probe_new_output(&op, db_lacks_txid)? {
                        None => return Ok(Err(Reject::new("bad-txns-BIP30", format!("tried to overwrite transaction {txid}")))),
                        Some(fresh) => fresh_outputs.push(fresh),
                    }
                }
            }
        }

        let p2sh = flags & VERIFY_P2SH != 0;
        let witness = flags & VERIFY_WITNESS != 0;
        for (pos, (tx, &txid)) in block.txdata.iter().zip(&txids).enumerate() {
            if tx.is_coinbase() {
                spent_all.push(Arc::default());
                sigops += sigop_cost(tx, &[], p2sh, witness);
            } else {
                let mut coins = Vec::with_capacity(tx.input.len());
                // Spent as they are read (one lookup per input): on any failure below the
                // view is dropped unapplied, and a transaction's inputs are distinct (CheckTransaction).
                for input in &tx.input {
                    match view.spend(&input.previous_output)? {
                        Some(c) => coins.push(c),
                        None => {
                            return Ok(Err(Reject::new(
                                "bad-txns-inputs-missingorspent",
                                format!("tx {txid} input {} missing or spent", input.previous_output),
                            )))
                        }
                    }
                }
                if let Err(r) = check_tx_amounts(tx, &txid, &coins, height, self.settings.coinbase_maturity, &mut fees) {
                    return Ok(Err(r));
                }
                if csv {
                    let heights: Vec<u32> = coins.iter().map(|c| c.height).collect();
                    let lock = sequence_lock(tx, &heights, &mtp_of);
                    if !sequence_lock_satisfied(lock, height, prev_mtp) {
                        return Ok(Err(Reject::new("bad-txns-nonfinal", "contains a non-BIP68-final transaction")));
                    }
                }
                let spent: Arc<Vec<TxOut>> = Arc::new(coins.iter().map(|c| c.output.clone()).collect());
                let spent_refs: Vec<&TxOut> = spent.iter().collect();
                sigops += sigop_cost(tx, &spent_refs, p2sh, witness);
                if let Some(session) = &mut scripts {
                    // Transactions whose scripts passed under these flags (in the mempool) are
                    // skipped; their entries are used up, as Core's, and nothing is added here:
                    // once connected, a transaction is not expected to be checked again.
                    if script_cache.is_empty() || !script_cache.contains(&tx.compute_wtxid(), flags, true) {
                        session.add(pos, tx, Arc::clone(&spent), flags, parsed.as_ref());
                    }
                }
                spent_all.push(spent);
                undo.txs.push(coins);
            }
            if sigops > MAX_BLOCK_SIGOPS_COST {
                return Ok(Err(Reject::new("bad-blk-sigops", "too many sigops")));
            }
            for (vout, out) in tx.output.iter().enumerate() {
                if is_unspendable(&out.script_pubkey) {
                    continue;
                }
                let op = OutPoint { txid, vout: vout as u32 };
                let fresh = fresh_outputs.get(outputs_before + vout).copied().unwrap_or(false);
                view.add_output(op, out, height, tx.is_coinbase(), fresh);
            }
            outputs_before += tx.output.len();
        }
        let reward = fees + self.params.subsidy(height);
        let cb_out: u64 = block.txdata[0].output.iter().map(|o| o.value.to_sat()).sum();
        if cb_out > reward {
            return Ok(Err(Reject::new(
                "bad-cb-amount",
                format!("coinbase pays too much (actual={cb_out} vs limit={reward})"),
            )));
        }
        // Encoded while the script threads may still be checking; the coin statistics index
        // takes the spent coins as they are.
        let undo_bytes = undo.encode();
        let undo_kept = (self.coinstats.is_some() && self.cs.validated).then_some(undo);
        self.prefetch.observe(view.input_misses());
        // Every rule but the scripts passed: the changes go into the cache while the script
        // threads finish (the one thing a script failure then has to undo).
        let changes = view.into_changes();
        let applied = self.cs.coins.apply(changes);
        if let Some(session) = scripts {
            if let Err((t, i, e)) = session.finish() {
                self.cs.coins.revert(applied);
                let reject = block_script_reject(&block.txdata[t], &spent_all[t], i, u64::from(flags), &e.to_string());
                return Ok(Err(reject));
            }
        }
        // The checks are over, so each list of spent outputs has one owner again.
        let spent_all = spent_all
            .into_iter()
            .map(|s| Arc::try_unwrap(s).unwrap_or_else(|s| (*s).clone()))
            .collect();
        Ok(Ok(ConnectChecked {
            applied,
            undo: undo_bytes,
            undo_kept,
            spent_all,
        }))
    }

    /// Disconnects the active tip using its undo data; returns its hash.
    pub(super) fn disconnect_tip(&mut self) -> Result<BlockHash, ChainError> {
        let tip = self.tip().clone();
        if tip.height == 0 {
            return Err(ChainError::Corrupt("attempt to disconnect genesis".into()));
        }
        let block = self
            .read_block(&tip.hash)?
            .ok_or_else(|| ChainError::Corrupt(format!("block {} has no data to disconnect", tip.hash)))?;
        let undo_pos = tip
            .undo_pos
            .ok_or_else(|| ChainError::Corrupt(format!("block {} has no undo data", tip.hash)))?;
        let undo_bytes = self.files.read_undo(undo_pos, &tip.hash)?;
        let undo = BlockUndo::decode(&undo_bytes).map_err(|e| ChainError::Corrupt(format!("undo data of {}: {e}", tip.hash)))?;
        if undo.txs.len() + 1 != block.txdata.len() {
            return Err(ChainError::Corrupt(format!("undo data of {} does not match the block", tip.hash)));
        }
        let reader = self.cs.coins_db(&self.db).coin_reader()?;
        let db_path = self.cs.coins_db(&self.db).path().to_path_buf();
        let mut view = BlockView::new(&mut self.cs.coins, &reader, &db_path);
        for (i, tx) in block.txdata.iter().enumerate().rev() {
            let txid = tx.compute_txid();
            for (vout, out) in tx.output.iter().enumerate() {
                if is_unspendable(&out.script_pubkey) {
                    continue;
                }
                let op = OutPoint { txid, vout: vout as u32 };
                if view.spend(&op)?.is_none() {
                    tracing::warn!(block = %tip.hash, outpoint = %op, "output missing while disconnecting (unclean)");
                }
            }
            if i > 0 {
                let coins = &undo.txs[i - 1];
                if coins.len() != tx.input.len() {
                    return Err(ChainError::Corrupt(format!("undo data of {} has wrong input count", tip.hash)));
                }
                for (input, coin) in tx.input.iter().zip(coins).rev() {
                    view.add(input.previous_output, coin.clone(), false);
                }
            }
        }
        let changes = view.into_changes();
        drop(reader);
        let indexed = self.cs.validated;
        if indexed {
            self.coinstats_disconnect(tip.height, &block, &undo)?;
        }
        drop(self.cs.coins.apply(changes));
        self.cs.active.pop();
        let new_tip = self.tip().hash;
        if let Some(t) = self.txindex.as_mut().filter(|_| indexed) {
            t.remove_block(&block, new_tip);
        }
        self.notifications.push(ChainNotification::BlockDisconnected {
            hash: tip.hash,
            height: tip.height,
        });
        Ok(tip.hash)
    }
}

/// Core's ConnectBlock on one transaction's spent coins: CheckTxInputs at the block's height
/// (a failure is the block's, naming the transaction), then the block's running fee total,
/// which must stay in range too.
fn check_tx_amounts(
    tx: &bitcoin::Transaction,
    txid: &bitcoin::Txid,
    coins: &[Coin],
    height: u32,
    maturity: u32,
    fees: &mut u64,
) -> Result<(), Reject> {
    let fee = check_tx_inputs(tx, coins, height, maturity).map_err(|mut r| {
        let sep = if r.detail.is_empty() { "" } else { " " };
        r.detail = format!("{}{sep}in transaction {txid}", r.detail);
        r
    })?;
    *fees += fee;
    if *fees > bitcoin::Amount::MAX_MONEY.to_sat() {
        return Err(Reject::new(
            "bad-txns-accumulated-fee-outofrange",
            "accumulated fee in the block out of range",
        ));
    }
    Ok(())
}
