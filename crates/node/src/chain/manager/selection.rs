//! The chain engine's chain selection: headers and blocks accepted into the index, the most-work
//! chain activated (reorganising when another branch has more work), invalidation and
//! reconsideration, and Core's fork warning.

use super::*;

impl ChainManager {
    /// Headers of `from`'s ancestors for questions at falling heights (the min-difficulty walk of
    /// `next_work_required`): each answer continues from the previous one instead of walking from
    /// `from` again, so headers far ahead of the active chain cost one step per height, not one walk.
    pub(super) fn ancestor_headers<'a>(&'a self, from: &'a BlockIndexEntry) -> impl Fn(u32) -> Option<Header> + 'a {
        let cursor = std::cell::Cell::new(from);
        move |height| {
            let mut e = cursor.get();
            if height > e.height {
                return self.ancestor(&from.hash, height).map(|a| a.header);
            }
            loop {
                if e.height == height {
                    cursor.set(e);
                    return Some(e.header);
                }
                if self.cs.active.get(e.height as usize) == Some(&e.hash) {
                    let a = self.cs.active.get(height as usize).and_then(|h| self.index.get(h))?;
                    cursor.set(a);
                    return Some(a.header);
                }
                e = self.index.get(&e.header.prev_blockhash)?;
            }
        }
    }

    pub(super) fn parent_context(&self, prev: &BlockIndexEntry, new_time: u32) -> ParentContext {
        let ancestor = self.ancestor_headers(prev);
        let expected_bits = next_work_required(&self.params, prev.height, &prev.header, new_time, &ancestor);
        ParentContext {
            height: prev.height,
            time: prev.header.time,
            mtp: self.median_time_past(&prev.hash),
            expected_bits,
        }
    }

    pub(super) fn add_header_entry(&mut self, header: &Header, prev: &BlockIndexEntry, extra_status: u32) -> BlockHash {
        let hash = header.block_hash();
        let seq = self.next_sequence;
        self.next_sequence += 1;
        let entry = BlockIndexEntry {
            header: *header,
            hash,
            height: prev.height + 1,
            chainwork: prev.chainwork + header.work(),
            status: extra_status,
            n_tx: 0,
            data_pos: None,
            undo_pos: None,
            sequence: seq,
        };
        self.index.insert(hash, entry);
        self.dirty_index.insert(hash);
        self.consider_best_header(&hash);
        hash
    }

    /// Validates a header against its parent and adds it to the index (headers-first sync).
    pub fn accept_header(&mut self, header: &Header) -> Result<Result<BlockHash, Reject>, ChainError> {
        let hash = header.block_hash();
        if let Some(e) = self.index.get(&hash) {
            if e.is_failed() {
                return Ok(Err(Reject::new("duplicate-invalid", format!("block {hash} is known invalid"))));
            }
            return Ok(Ok(hash));
        }
        // As Core's AcceptBlockHeader: proof of work first, so nothing without it is indexed.
        if let Err(r) = check_proof_of_work(header, &self.params) {
            return Ok(Err(r));
        }
        let Some(prev) = self.index.get(&header.prev_blockhash).cloned() else {
            return Ok(Err(Reject::new(
                "prev-blk-not-found",
                format!("parent {} unknown", header.prev_blockhash),
            )));
        };
        // As Core, a header that fails here is not indexed (so an attacker's headers cost no
        // memory or disk), and it is judged again, with the same answer, if it comes back.
        if prev.is_failed() {
            return Ok(Err(Reject::new("bad-prevblk", format!("parent {} is invalid", prev.hash))));
        }
        let ctx = self.parent_context(&prev, header.time);
        if let Err(r) = contextual_check_header(header, &ctx, &self.params, (self.settings.clock)()) {
            tracing::debug!(target: "blvm::validation", "AcceptBlockHeader: Consensus::ContextualCheckBlockHeader: {}, {}, {}", header.block_hash(), r.reason, r.detail);
            return Ok(Err(r));
        }
        Ok(Ok(self.add_header_entry(header, &prev, 0)))
    }

    /// Validates, stores and (if it leads to more work) connects a block.
    pub fn process_block(&mut self, block: &Block) -> Result<BlockOutcome, ChainError> {
        // A pruned block of the active chain can be stored again; it connects nothing new.
        let was_active = self.is_active(&block.block_hash());
        let outcome = self.accept_block(block, None)?;
        if let BlockOutcome::Accepted { .. } = outcome {
            let hash = block.block_hash();
            self.activate_best_chain(Some(block))?;
            self.advance_historical()?;
            if let Some(e) = self.index.get(&hash) {
                if e.is_failed() {
                    return Ok(BlockOutcome::Invalid(
                        self.last_reject
                            .take()
                            .unwrap_or_else(|| Reject::new("invalid", "block failed to connect")),
                    ));
                }
            }
            return Ok(BlockOutcome::Accepted {
                connected: !was_active && self.is_active(&hash),
            });
        }
        Ok(outcome)
    }

    /// [`Self::process_block`] for a block whose context-free work was done ahead (the import
    /// reader thread): the same outcome, with those results reused. Hands the block back with
    /// what is left of its facts, so the caller can free both off this thread (the
    /// interpreter's parse of a block is thousands of allocations).
    pub fn process_prepared(
        &mut self,
        prepared: crate::validation::prepared::PreparedBlock,
    ) -> Result<(BlockOutcome, crate::validation::prepared::PreparedBlock), ChainError> {
        let crate::validation::prepared::PreparedBlock { block, facts } = prepared;
        self.prepared = Some(facts);
        let outcome = self.process_block(&block);
        let facts = self
            .prepared
            .take()
            .ok_or_else(|| ChainError::Corrupt("prepared facts lost".into()))?;
        Ok((outcome?, crate::validation::prepared::PreparedBlock { block, facts }))
    }

    pub(super) fn accept_block(&mut self, block: &Block, stored_at: Option<FilePos>) -> Result<BlockOutcome, ChainError> {
        let hash = block.block_hash();
        if let Some(e) = self.index.get(&hash) {
            if e.is_failed() {
                return Ok(BlockOutcome::Invalid(Reject::new(
                    "duplicate-invalid",
                    format!("block {hash} is known invalid"),
                )));
            }
            if e.have_data() {
                return Ok(BlockOutcome::Duplicate);
            }
        }
        if !self.index.contains_key(&hash) {
            match self.accept_header(&block.header)? {
                Ok(_) => {}
                Err(r) if r.reason == "prev-blk-not-found" => return Ok(BlockOutcome::Orphan),
                Err(r) => return Ok(BlockOutcome::Invalid(r)),
            }
        }
        let Some(entry) = self.index.get(&hash).cloned() else {
            return Err(ChainError::Corrupt(format!("accepted header {hash} missing from index")));
        };
        let prev_mtp = self.median_time_past(&entry.header.prev_blockhash);
        let ahead = self.prepared.as_mut().filter(|f| f.hash == hash);
        let (checked, raw) = match ahead {
            Some(f) => {
                let checked = f
                    .check_block
                    .clone()
                    .and_then(|_| contextual_check_block_with(block, entry.height, prev_mtp, &self.params, f.parts.as_ref()));
                (checked, f.raw.take())
            }
            None => (
                check_block(block, &self.params).and_then(|_| contextual_check_block(block, entry.height, prev_mtp, &self.params)),
                None,
            ),
        };
        if let Err(r) = checked {
            if !r.may_be_mutated {
                self.mark_invalid(&hash);
            }
            return Ok(BlockOutcome::Invalid(r));
        }
        let pos = match stored_at {
            Some(p) => p,
            None => self.files.write_block(raw.unwrap_or_else(|| serialize(block)))?,
        };
        let mut was_highest_pruned = false;
        if let Some(e) = self.index.get_mut(&hash) {
            was_highest_pruned = e.status & status::PRUNED != 0 && Some(e.height) == self.prune_height;
            e.status |= status::HAVE_DATA;
            e.status &= !status::PRUNED;
            e.n_tx = block.txdata.len() as u32;
            e.data_pos = Some(pos);
        }
        if was_highest_pruned {
            // Only a pruned block fetched again (getblockfrompeer) gets here.
            self.prune_height = self
                .index
                .values()
                .filter(|e| e.status & status::PRUNED != 0)
                .map(|e| e.height)
                .max();
        }
        self.dirty_index.insert(hash);
        self.try_link(hash);
        if self.cs.active.get(entry.height as usize) == Some(&hash) {
            self.fill_chain_tx_counts(entry.height);
        }
        Ok(BlockOutcome::Accepted { connected: false })
    }

    pub(super) fn mark_invalid(&mut self, hash: &BlockHash) {
        let Some(height) = self.index.get(hash).map(|e| e.height) else {
            return;
        };
        if let Some(e) = self.index.get_mut(hash) {
            e.status |= status::FAILED_VALID;
        }
        self.dirty_index.insert(*hash);
        let descendants: Vec<BlockHash> = self
            .index
            .values()
            .filter(|e| e.height > height && self.ancestor(&e.hash, height).map(|a| a.hash) == Some(*hash))
            .map(|e| e.hash)
            .collect();
        for d in &descendants {
            if let Some(e) = self.index.get_mut(d) {
                e.status |= status::FAILED_CHILD;
            }
            self.dirty_index.insert(*d);
        }
        let failed: HashSet<BlockHash> = descendants.into_iter().chain(std::iter::once(*hash)).collect();
        self.candidates.retain(|(_, _, h)| !failed.contains(h));
        if failed.contains(&self.best_header) {
            self.recompute_best_header();
        }
        let best_invalid = failed.iter().filter_map(|h| self.index.get(h)).map(|e| e.chainwork).max();
        self.check_fork_warning(best_invalid);
    }

    /// Core's large-work invalid chain warning: an invalid chain more than six blocks' work
    /// ahead of the tip means a consensus split or a corrupted database. Raised once.
    pub(super) fn check_fork_warning(&mut self, best_invalid: Option<Work>) {
        let tip = self.tip();
        let proof = tip.header.work();
        let limit = (0..6).fold(tip.chainwork, |w, _| w + proof);
        if best_invalid.is_some_and(|w| w > limit) && !self.large_work_invalid_warned {
            self.large_work_invalid_warned = true;
            self.warnings.push(LARGE_WORK_INVALID_CHAIN.to_string());
        }
    }

    /// Connects the most-work valid chain, reorganising if needed; a block that fails to connect
    /// is marked invalid (with its descendants) and the next best chain is tried.
    pub(super) fn activate_best_chain(&mut self, hint: Option<&Block>) -> Result<(), ChainError> {
        loop {
            let tip = self.tip().clone();
            let Some(&(work, seq, best)) = self.candidates.iter().next_back() else {
                break;
            };
            // As Core's FindMostWorkChain: more work wins, then the earlier-seen block.
            if (work, seq) <= (tip.chainwork, Reverse(tip.sequence)) || best == tip.hash {
                break;
            }
            self.switch_to(best, hint)?;
        }
        Ok(())
    }

    /// `preciousblock`: treats `hash` as if it had been seen before any other block of equal
    /// work (Core's PreciousBlock: a negative sequence, lower with each call at the same tip
    /// work), so it becomes the active tip when its chain has as much work as the active one,
    /// and stays until a chain with more work appears. Returns false for an unknown hash.
    pub fn precious_block(&mut self, hash: &BlockHash) -> Result<bool, ChainError> {
        let Some(e) = self.index.get(hash).cloned() else {
            return Ok(false);
        };
        let tip_work = self.tip().chainwork;
        if e.chainwork < tip_work {
            return Ok(true);
        }
        if tip_work > self.precious.1 {
            self.precious.0 = -1;
        }
        self.precious.1 = tip_work;
        let seq = self.precious.0;
        self.precious.0 = self.precious.0.saturating_sub(1);
        let was_candidate = self.candidates.remove(&(e.chainwork, Reverse(e.sequence), *hash));
        if let Some(entry) = self.index.get_mut(hash) {
            entry.sequence = seq;
        }
        if was_candidate || (!e.is_failed() && e.have_data() && self.linked.contains(hash)) {
            self.candidates.insert((e.chainwork, Reverse(seq), *hash));
        }
        self.activate_best_chain(None)?;
        Ok(true)
    }

    /// `invalidateblock`: marks `hash` and its descendants invalid, disconnects them if they are
    /// active, and activates the best remaining valid chain (a `Reorg` notification when another
    /// branch gets connected). Returns false for an unknown hash; genesis cannot be invalidated.
    pub fn invalidate_block(&mut self, hash: &BlockHash) -> Result<bool, ChainError> {
        match self.index.get(hash) {
            None => return Ok(false),
            Some(e) if e.height == 0 => return Ok(true),
            Some(_) => {}
        }
        let old_tip = self.tip().hash;
        let mut disconnected = Vec::new();
        while self.is_active(hash) {
            disconnected.push(self.disconnect_tip_or_stop()?);
        }
        let fork_height = self.height();
        self.mark_invalid(hash);
        self.reconnect_best_after(old_tip, fork_height, disconnected)?;
        Ok(true)
    }

    /// `reconsiderblock`: clears the invalid marks of `hash`, its descendants and its ancestors,
    /// then activates the best chain (blocks that really break a rule fail again). Returns false
    /// for an unknown hash.
    pub fn reconsider_block(&mut self, hash: &BlockHash) -> Result<bool, ChainError> {
        let Some(height) = self.index.get(hash).map(|e| e.height) else {
            return Ok(false);
        };
        let related: Vec<BlockHash> = self
            .index
            .values()
            .filter(|e| e.is_failed())
            .filter(|e| {
                e.hash == *hash
                    || (e.height > height && self.ancestor(&e.hash, height).map(|a| a.hash) == Some(*hash))
                    || (e.height < height && self.ancestor(hash, e.height).map(|a| a.hash) == Some(e.hash))
            })
            .map(|e| e.hash)
            .collect();
        for h in related {
            if let Some(e) = self.index.get_mut(&h) {
                e.status &= !status::FAILED_MASK;
            }
            self.dirty_index.insert(h);
        }
        self.recompute_best_header();
        let (old_tip, height_now) = (self.tip().hash, self.height());
        self.reconnect_best_after(old_tip, height_now, Vec::new())?;
        Ok(true)
    }

    /// After blocks were disconnected or marks changed outside chain selection: every valid,
    /// fully stored block with more work than the tip becomes a candidate again, the best chain
    /// is activated, and a `Reorg` is reported when blocks were disconnected and others connected.
    pub(super) fn reconnect_best_after(
        &mut self,
        old_tip: BlockHash,
        fork_height: u32,
        disconnected: Vec<BlockHash>,
    ) -> Result<(), ChainError> {
        let tip = self.tip().clone();
        self.candidates.insert((tip.chainwork, Reverse(tip.sequence), tip.hash));
        for e in self.index.values() {
            // As Core's InvalidateBlock: blocks at least as good as the tip left (an equal-work
            // block seen earlier wins) become candidates again.
            let better = (e.chainwork, Reverse(e.sequence)) > (tip.chainwork, Reverse(tip.sequence));
            if better && !e.is_failed() && e.have_data() && self.linked.contains(&e.hash) {
                self.candidates.insert((e.chainwork, Reverse(e.sequence), e.hash));
            }
        }
        let first_new = self.notifications.len();
        self.activate_best_chain(None)?;
        let new_notes = &self.notifications[first_new..];
        let switched = new_notes.iter().any(|n| matches!(n, ChainNotification::Reorg { .. }));
        let connected: Vec<BlockHash> = new_notes
            .iter()
            .filter_map(|n| match n {
                ChainNotification::BlockConnected { hash, .. } => Some(*hash),
                _ => None,
            })
            .collect();
        if !disconnected.is_empty() && !connected.is_empty() && !switched {
            self.notifications.push(ChainNotification::Reorg {
                old_tip,
                new_tip: self.tip().hash,
                fork_height,
                disconnected,
                connected,
            });
        }
        Ok(())
    }

    /// Reorganises the active chain to end at `best` (disconnecting to the fork point, then
    /// connecting `best`'s branch); a block that fails is marked invalid and the switch stops.
    pub(super) fn switch_to(&mut self, best: BlockHash, hint: Option<&Block>) -> Result<(), ChainError> {
        let tip = self.tip().clone();
        let mut path = Vec::new();
        let mut cur = best;
        while !self.is_active(&cur) {
            path.push(cur);
            cur = match self.index.get(&cur) {
                Some(e) => e.header.prev_blockhash,
                None => return Err(ChainError::Corrupt(format!("candidate {best} has a gap in its ancestry"))),
            };
        }
        let fork_height = self.index.get(&cur).map(|e| e.height).unwrap_or(0);
        path.reverse();
        let mut disconnected = Vec::new();
        while self.height() > fork_height {
            disconnected.push(self.disconnect_tip_or_stop()?);
        }
        let mut connected = Vec::new();
        let mut failed = false;
        for h in &path {
            // The block just received is connected as it is (no copy); others are read back.
            let read;
            let block = match hint {
                Some(b) if b.block_hash() == *h => b,
                _ => match self.read_block(h)? {
                    Some(b) => {
                        read = b;
                        &read
                    }
                    None => return Err(ChainError::Corrupt(format!("block {h} has no data"))),
                },
            };
            match self.connect_tip(block)? {
                Ok(()) => connected.push(*h),
                Err(r) => {
                    // Core's ConnectBlock line (its ValidationState::ToString).
                    match r.detail.is_empty() {
                        true => tracing::info!(target: "blvm::validation", "Block validation error: {}", r.reason),
                        false => tracing::info!(target: "blvm::validation", "Block validation error: {}, {}", r.reason, r.detail),
                    }
                    tracing::warn!(block = %h, reason = %r, "block failed to connect; marking invalid");
                    self.mark_invalid(h);
                    self.last_reject = Some(r);
                    failed = true;
                    break;
                }
            }
        }
        if !disconnected.is_empty() {
            self.notifications.push(ChainNotification::Reorg {
                old_tip: tip.hash,
                new_tip: self.tip().hash,
                fork_height,
                disconnected,
                connected,
            });
        }
        let tip_work = self.tip().chainwork;
        self.candidates.retain(|(w, _, _)| *w >= tip_work);
        if failed {
            tracing::info!(tip = %self.tip().hash, "re-selecting the best chain after an invalid block");
        }
        Ok(())
    }

    pub(super) fn bip30_enforced(&self, height: u32, hash: &BlockHash) -> bool {
        if self.params.bip30_exception_heights.iter().any(|(h, bh)| *h == height && bh == hash) {
            return false;
        }
        if let Some(bip34_hash) = self.params.bip34_hash {
            if height >= self.params.bip34_height && height < BIP34_IMPLIES_BIP30_LIMIT {
                let at = self.cs.active.get(self.params.bip34_height as usize);
                if at == Some(&bip34_hash) {
                    return false;
                }
            }
        }
        true
    }
}
