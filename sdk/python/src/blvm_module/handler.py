"""Handler-based runtime: subclass EventHandler, call run_with_handler (or run_module / run),
and the SDK runs the event loop, acks what the node waits for, and serves RPC and hook calls.

The auto-ack rule is the Rust SDK's (``crates/module/src/handler.rs``): an ack-required event is
acked when ``on_event`` returns, so "acked" means "the module has done its work", which is what
the node's shutdown, flush and maintenance waits rely on. If the handler raises, the SDK logs the
error and still acks: holding the node up until its deadline would not make the work succeed.
``ctx.ack()`` acks early (before slow follow-up work); the SDK then does not ack again.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from ._wire import WireError, from_wire
from .client import (
    ClientError,
    Goodbye,
    Lagged,
    ModuleClient,
    NodeError,
    NodeRequest,
)
from .events import EventMessage, EventType
from .extend import HOOK_CALL_TYPES, HookCall, HookVerdict, RpcError, RpcMethodSpec, error_result, hook_answer, rpc_error, rpc_result
from .responses import ErrorCode

log = logging.getLogger("blvm_module")


class EventContext:
    """What a handler gets alongside each event: the client (for requests) and manual acking."""

    def __init__(self, client: ModuleClient, event: EventMessage) -> None:
        self.client = client
        self.sequence = event.sequence
        self.requires_ack = event.requires_ack
        self._acked = False

    @property
    def is_acked(self) -> bool:
        """Whether this event has been acked already (by ``ack``)."""
        return self._acked

    async def ack(self) -> None:
        """Acks now instead of when the handler returns; the SDK then skips its own ack."""
        if self._acked:
            return
        await self.client.ack(self.sequence)
        self._acked = True


class EventHandler:
    """A module's reactions; override what the module needs (every method has a default)."""

    def rpc_methods(self) -> Sequence[RpcMethodSpec]:
        """JSON-RPC methods ``run_module`` registers (needs ``register_rpc``); none by default."""
        return ()

    def hooks(self) -> Sequence[str]:
        """Hooks ``run_module`` registers (needs ``hooks``); none by default."""
        return ()

    async def on_event(self, event: EventMessage, ctx: EventContext) -> None:
        """Handles one subscribed event; return once its work is done (the SDK acks then)."""

    async def on_lagged(self, lagged: Lagged) -> None:
        """Called when events were dropped for this module; re-read state the events described."""
        log.warning("missed %d events in %d..=%d", lagged.count, lagged.from_sequence, lagged.to_sequence)

    async def on_rpc_call(self, name: str, params: List[Any], client: ModuleClient) -> Any:
        """Serves JSON-RPC method ``name`` with positional ``params``; the return value is the
        JSON result, ``RpcError`` gives the caller that code and message."""
        raise NotImplementedError(f"this module serves no RPC method {name}")

    async def on_hook(self, call: HookCall, client: ModuleClient) -> Union[HookVerdict, bool]:
        """Decides a hook call; ``True``/``False`` are shorthand for allow/refuse."""
        raise NotImplementedError(f"this module serves no {type(call).__name__} hook")

    async def on_request(self, request: NodeRequest, client: ModuleClient) -> Dict[str, Any]:
        """Answers a node request; by default routes RpcCall and Hook to the methods above."""
        if request.method == "RpcCall":
            return await _serve_rpc(self, request, client)
        if request.method == "Hook":
            return await _serve_hook(self, request, client)
        return error_result(ErrorCode.MALFORMED, f"this module serves no {request.method} requests")


@dataclass
class RunSummary:
    """What happened while run_with_handler ran, for exit logging and tests."""

    events: int = 0
    failed: int = 0
    lagged: int = 0


async def run_with_handler(client: ModuleClient, handler: EventHandler) -> RunSummary:
    """Runs the event loop until the node closes the connection, dispatching to ``handler``.

    Subscribe (and register methods and hooks) before calling this.
    """
    summary = RunSummary()
    while True:
        msg = await client.next_event()
        if msg is None:
            return summary
        if isinstance(msg, EventMessage):
            summary.events += 1
            if not await _dispatch(client, handler, msg):
                summary.failed += 1
        elif isinstance(msg, Lagged):
            summary.lagged += msg.count
            try:
                await handler.on_lagged(msg)
            except Exception:
                log.exception("on_lagged failed")
        elif isinstance(msg, NodeRequest):
            result = await _answer(handler, msg, client)
            try:
                await client.respond(msg.id, result)
            except ClientError as e:
                log.warning("answering node request %d failed: %s", msg.id, e)
        elif isinstance(msg, NodeError):
            log.warning("node reported error %d (%s): %s", msg.code, ErrorCode.name(msg.code), msg.message)
        elif isinstance(msg, Goodbye):
            log.info("node says goodbye: %s", msg.reason)


async def _dispatch(client: ModuleClient, handler: EventHandler, event: EventMessage) -> bool:
    """Runs on_event for one event and acks it if needed; False if the handler raised."""
    ctx = EventContext(client, event)
    ok = True
    try:
        await handler.on_event(event, ctx)
    except Exception:
        ok = False
        log.exception("handling %s (sequence %d) failed", event.event_type, event.sequence)
    if ctx.requires_ack and not ctx.is_acked:
        try:
            await client.ack(event.sequence)
        except ClientError as e:
            log.warning("ack of %s (sequence %d) failed: %s", event.event_type, event.sequence, e)
    return ok


async def _answer(handler: EventHandler, request: NodeRequest, client: ModuleClient) -> Dict[str, Any]:
    """on_request's answer; a handler that raises answers ``internal`` instead of crashing."""
    try:
        return await handler.on_request(request, client)
    except Exception as e:
        log.exception("answering %s failed", request.method)
        return error_result(ErrorCode.INTERNAL, f"{type(e).__name__}: {e}")


async def _serve_rpc(handler: EventHandler, request: NodeRequest, client: ModuleClient) -> Dict[str, Any]:
    """An RpcCall's answer: RpcResult, RpcError, or Err (the caller then sees -1 and the message)."""
    name, params_json = request.params.get("name"), request.params.get("params")
    try:
        params = json.loads(params_json) if isinstance(params_json, str) else None
    except ValueError:
        params = None
    if not isinstance(name, str) or not isinstance(params, list):
        return error_result(ErrorCode.MALFORMED, "RpcCall needs a name and a JSON array of params")
    try:
        return rpc_result(await handler.on_rpc_call(name, params, client))
    except RpcError as e:
        return rpc_error(e.code, e.message)
    except NotImplementedError as e:
        return error_result(ErrorCode.MALFORMED, str(e))


async def _serve_hook(handler: EventHandler, request: NodeRequest, client: ModuleClient) -> Dict[str, Any]:
    """A Hook's answer: the handler's verdict as HookVerdict."""
    call = request.params.get("call")
    hook = call.get("hook") if isinstance(call, dict) else None
    cls = HOOK_CALL_TYPES.get(hook) if isinstance(hook, str) else None
    if cls is None:
        return error_result(ErrorCode.MALFORMED, f"unknown hook {hook!r}")
    try:
        parsed: HookCall = from_wire(cls, call, hook)
    except WireError as e:
        return error_result(ErrorCode.MALFORMED, str(e))
    try:
        verdict = await handler.on_hook(parsed, client)
    except NotImplementedError as e:
        return error_result(ErrorCode.MALFORMED, str(e))
    if isinstance(verdict, bool):
        verdict = HookVerdict(verdict, None if verdict else f"refused by {type(handler).__name__}")
    return hook_answer(verdict)


async def run_module(
    handler: EventHandler,
    event_types: Iterable[Union[EventType, str]] = (EventType.NODE_SHUTDOWN,),
    client: Optional[ModuleClient] = None,
) -> RunSummary:
    """Connects from the environment (unless ``client`` is given), registers the handler's RPC
    methods and hooks, subscribes to ``event_types`` and runs until the node closes.

    The node counts a module as started only once it has a non-empty subscription, so the
    default subscribes to NodeShutdown.
    """
    client = client or await ModuleClient.connect_from_env()
    try:
        methods = list(handler.rpc_methods())
        if methods:
            await client.register_rpc_methods(methods)
        hooks = list(handler.hooks())
        if hooks:
            await client.register_hooks(hooks)
        await client.subscribe_events(event_types)
        return await run_with_handler(client, handler)
    finally:
        await client.close()


def init_logging(level: Optional[str] = None) -> None:
    """Sends the SDK's and the module's ``logging`` output to stderr, which the node copies into
    its debug.log. Level from ``level``, else ``BLVM_LOG``, else INFO."""
    logging.basicConfig(
        stream=sys.stderr,
        level=(level or os.environ.get("BLVM_LOG") or "INFO").upper(),
        format="%(levelname)s %(name)s: %(message)s",
    )


def run(
    handler: EventHandler,
    event_types: Iterable[Union[EventType, str]] = (EventType.NODE_SHUTDOWN,),
) -> int:
    """Runs a module from a script's ``main``: logging to stderr, ``run_module``, an exit status.

    0 when the node closed the connection, 1 on a protocol or connection failure, 2 when the
    module could not connect or the node refused the handshake or a registration.
    """
    init_logging()
    try:
        summary = asyncio.run(run_module(handler, event_types))
    except (OSError, ClientError, ValueError) as e:
        log.error("cannot run module: %s", e)
        return 2
    log.info("node closed the connection: %d events, %d failed, %d lagged", summary.events, summary.failed, summary.lagged)
    return 0
