//! Bitcoin Core's REST interface (`-rest`): unauthenticated read-only endpoints under `/rest/`
//! on the RPC port, with Core's URIs, `.bin`/`.hex`/`.json` formats, status codes and error texts.
//! JSON bodies come from the same code as the matching RPC methods.

mod chain;
mod error;
mod filter;
mod format;
mod info;
mod query;
mod tx;
mod utxos;

pub use error::RestError;
pub use format::{Format, RestResponse};

use crate::rpc::context::RpcContext;
use std::sync::Arc;

/// Headers (and filter headers) returned at most by one request (Core's MAX_REST_HEADERS_RESULTS).
pub const MAX_HEADERS_RESULTS: usize = 2000;

/// Outpoints queried at most by one `getutxos` request (Core's MAX_GETUTXOS_OUTPOINTS).
pub const MAX_GETUTXOS_OUTPOINTS: usize = 15;

/// Longest request URI served; longer ones get 414 before any work (Core's evhttp limit is 8 KiB
/// on the whole request line too).
pub const MAX_URI: usize = 8192;

/// One endpoint: the rest of the URI (after the prefix, with the query), and the request body.
type Handler = fn(&Arc<RpcContext>, &str, &[u8]) -> Result<RestResponse, RestError>;

/// Core's prefixes, in Core's matching order (the first prefix the URI starts with wins).
const ROUTES: &[(&str, Handler)] = &[
    ("/rest/tx/", tx::tx),
    ("/rest/block/notxdetails/", chain::block_notxdetails),
    ("/rest/block/", chain::block),
    ("/rest/blockfilter/", filter::block_filter),
    ("/rest/blockfilterheaders/", filter::filter_headers),
    ("/rest/chaininfo", info::chaininfo),
    ("/rest/mempool/", info::mempool),
    ("/rest/headers/", chain::headers),
    ("/rest/getutxos", utxos::getutxos),
    ("/rest/deploymentinfo/", info::deploymentinfo),
    ("/rest/deploymentinfo", info::deploymentinfo),
    ("/rest/blockhashbyheight/", chain::blockhash_by_height),
    ("/rest/spenttxouts/", chain::spent_txouts),
    ("/rest/blockpart/", chain::block_part),
];

/// Whether `path` belongs to the REST interface (served only with `-rest`).
pub fn is_rest_path(path: &str) -> bool {
    path.starts_with(crate::rpc::server::REST_PREFIX)
}

/// Answers one REST request: `uri` is the request target as sent (path and query, not decoded),
/// `body` the request body (only `getutxos` reads it). Runs on a blocking thread; the launcher
/// hands it to the RPC server as its [`crate::rpc::server::RestHandler`].
pub fn handle(node: &Arc<RpcContext>, uri: &str, body: &[u8]) -> RestResponse {
    if uri.len() > MAX_URI {
        return RestError::new(414, "URI too long").into();
    }
    let Some((prefix, handler)) = ROUTES.iter().find(|(p, _)| uri.starts_with(p)) else {
        return RestResponse::not_found();
    };
    tracing::debug!(target: "blvm::rpc", %uri, "REST request");
    match handler(node, &uri[prefix.len()..], body) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(target: "blvm::rpc", %uri, status = e.status, "REST error: {}", e.message);
            e.into()
        }
    }
}
