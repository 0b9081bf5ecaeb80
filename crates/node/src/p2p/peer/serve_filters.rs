//! The connection reader's answers that depend on optional serving limits: BIP157 filter
//! requests (`-peerblockfilters`, [`crate::p2p::cfilters`]) and the `-maxuploadtarget` check
//! before a block is served. A child of `peer` so it shares the reader's private state.

use super::reader::Reader;
use super::Exit;
use crate::clock::unix_now;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;

impl Reader {
    /// `-maxuploadtarget` (Core's ProcessGetBlockData): near the target, a historical block (or
    /// any filtered block) is not served to a peer without the download permission.
    pub(super) async fn historical_limit_reached(&self, inv: &Inventory) -> Result<bool, Exit> {
        if self.shared().permissions.download || !self.env.totals.upload.reached(true, unix_now()) {
            return Ok(false);
        }
        let hash = match inv {
            Inventory::Block(h) | Inventory::WitnessBlock(h) | Inventory::CompactBlock(h) => *h,
            Inventory::Unknown {
                inv_type: crate::p2p::bloom::MSG_FILTERED_BLOCK,
                ..
            } => return Ok(true),
            _ => return Ok(false),
        };
        self.chain(move |c| crate::p2p::upload_target::is_historical(c, &hash)).await
    }

    /// BIP157 requests ([`crate::p2p::cfilters`]): refused ones disconnect as Core, filters go out in
    /// batches on the bulk queue (waiting for the socket) so memory stays bounded.
    pub(super) async fn on_cfilter_request(&self, msg: NetworkMessage) -> Result<(), Exit> {
        use crate::p2p::cfilters::{self, Answer};
        let id = self.shared().id;
        let serving = self.env.settings.peer_block_filters;
        match self.chain(move |c| cfilters::answer(c, serving, &msg)).await? {
            None => Ok(()),
            Some(Answer::Refuse(why)) => {
                tracing::debug!(target: "blvm::net", "{why}, disconnecting peer={id}");
                Err(Exit::disconnect(why))
            }
            Some(Answer::Unavailable(why)) => {
                tracing::debug!(target: "blvm::net", "{why}");
                Ok(())
            }
            Some(Answer::Send(m)) => self.out.send(*m).await,
            Some(Answer::Filters(hashes)) => {
                for batch in hashes.chunks(cfilters::FILTER_BATCH) {
                    let batch = batch.to_vec();
                    match self.chain(move |c| cfilters::filters(c, &batch)).await? {
                        Ok(msgs) => {
                            for m in msgs {
                                self.out.send_bulk(m).await?;
                            }
                        }
                        Err(why) => {
                            tracing::debug!(target: "blvm::net", "{why}");
                            return Ok(());
                        }
                    }
                }
                Ok(())
            }
        }
    }
}
