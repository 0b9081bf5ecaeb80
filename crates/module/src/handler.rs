//! Handler-based module runtime: implement [`EventHandler`], call [`run_with_handler`], and the
//! SDK runs the event loop, acks every event the node waits for once the handler has finished
//! with it (also when the handler fails, logging the error), reports lag and refuses
//! node-initiated requests the handler does not serve.
//!
//! The ack is sent only after `on_event` returns, so "acked" always means "the module has done
//! its work": the node's shutdown, flush and maintenance waits rely on exactly that. A handler
//! that wants to ack earlier (e.g. before slow follow-up work) calls [`EventContext::ack`]; the
//! SDK then does not ack again. A handler that panics ends the module process; the node stops
//! waiting for a module once its connection closes, and restarts it per its restart policy.

use tracing::{error, warn};

use crate::client::{ClientError, ModuleClient};
use crate::event::EventMessage;
use crate::message::ModuleMessage;
use crate::request::{error_code, Request, ResponseResult};

/// Error a handler returns; any `std::error::Error` converts into it with `?`.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// What a handler gets alongside each event: the client (for requests) and manual acking.
#[derive(Debug)]
pub struct EventContext<'a> {
    client: &'a ModuleClient,
    sequence: u64,
    requires_ack: bool,
    acked: bool,
}

impl<'a> EventContext<'a> {
    /// A context for the event with `sequence`; `requires_ack` says whether the node waits for it.
    fn new(client: &'a ModuleClient, sequence: u64, requires_ack: bool) -> Self {
        EventContext {
            client,
            sequence,
            requires_ack,
            acked: false,
        }
    }

    /// The connection, for requests (`get_block_header`, `report_health`, ...) from inside a handler.
    pub fn client(&self) -> &'a ModuleClient {
        self.client
    }

    /// Sequence number of the event being handled.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Whether the node waits for this event's `Ack` (the SDK sends it when the handler returns).
    pub fn requires_ack(&self) -> bool {
        self.requires_ack
    }

    /// Acks now instead of when the handler returns; later acks for this event are skipped.
    pub async fn ack(&mut self) -> Result<(), ClientError> {
        if self.acked {
            return Ok(());
        }
        self.client.ack(self.sequence).await?;
        self.acked = true;
        Ok(())
    }

    /// Whether this event has already been acked by the handler.
    pub fn is_acked(&self) -> bool {
        self.acked
    }
}

/// A module's reaction to node events; only `on_event` is required.
///
/// The futures need not be `Send`: [`run_with_handler`] polls them on the caller's task.
#[allow(async_fn_in_trait)]
pub trait EventHandler {
    /// Handles one subscribed event; return once the work for it is done (the SDK acks then).
    async fn on_event(&mut self, event_msg: &EventMessage, ctx: &mut EventContext<'_>) -> Result<(), HandlerError>;

    /// Called when `count` events in `from_sequence..=to_sequence` were dropped for this module.
    async fn on_lagged(&mut self, from_sequence: u64, to_sequence: u64, count: u64) {
        warn!("missed {count} events in {from_sequence}..={to_sequence}");
    }

    /// Answers a node-initiated request; by default refuses it (this module serves none).
    async fn on_request(&mut self, request: &Request, _client: &ModuleClient) -> ResponseResult {
        ResponseResult::Err {
            code: error_code::MALFORMED,
            message: format!("this module serves no {} requests", request.method()),
        }
    }
}

/// What happened while [`run_with_handler`] ran, for the module's exit logging and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Events passed to `on_event`.
    pub events: u64,
    /// Events whose handler returned an error.
    pub failed: u64,
    /// Events dropped before reaching the module (sum of `Lagged` counts).
    pub lagged: u64,
}

/// Runs the event loop until the node closes the connection, dispatching to `handler`.
///
/// Ack-required events are acked after `on_event` returns, whether it succeeded or not (a
/// failure is logged with `tracing::error!`: holding the node up until its deadline would not
/// make the work succeed). Subscribe before calling this; nothing arrives otherwise.
pub async fn run_with_handler<H: EventHandler>(client: &mut ModuleClient, handler: &mut H) -> RunSummary {
    let mut summary = RunSummary::default();
    while let Some(msg) = client.next_event().await {
        match msg {
            ModuleMessage::Event(event_msg) => {
                summary.events += 1;
                if !dispatch(client, handler, &event_msg).await {
                    summary.failed += 1;
                }
            }
            ModuleMessage::Lagged {
                from_sequence,
                to_sequence,
                count,
            } => {
                summary.lagged = summary.lagged.saturating_add(count);
                handler.on_lagged(from_sequence, to_sequence, count).await;
            }
            ModuleMessage::Request { id, request } => {
                let result = handler.on_request(&request, client).await;
                if let Err(e) = client.respond(id, result).await {
                    warn!("answering node request {id} failed: {e}");
                }
            }
            ModuleMessage::Error { code, message } => {
                warn!("node reported error {code} ({}): {message}", error_code::name(code))
            }
            _ => {}
        }
    }
    summary
}

/// Runs `on_event` for one event and acks it if needed; false if the handler failed.
async fn dispatch<H: EventHandler>(client: &ModuleClient, handler: &mut H, event_msg: &EventMessage) -> bool {
    let mut ctx = EventContext::new(client, event_msg.sequence, event_msg.requires_ack());
    let outcome = handler.on_event(event_msg, &mut ctx).await;
    if let Err(e) = &outcome {
        error!("handling {} (sequence {}) failed: {e}", event_msg.event_type, event_msg.sequence);
    }
    if ctx.requires_ack && !ctx.acked {
        if let Err(e) = client.ack(event_msg.sequence).await {
            warn!("ack of {} (sequence {}) failed: {e}", event_msg.event_type, event_msg.sequence);
        }
    }
    outcome.is_ok()
}

/// Sends the module's `tracing` output to stderr, which the node copies into its `debug.log`.
///
/// Filter with `RUST_LOG` (default `info`). Does nothing if a subscriber is already installed.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .try_init();
}
