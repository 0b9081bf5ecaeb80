"""The module's connection to the node: handshake, request/response correlation, a bounded
incoming queue, acks, and the node API calls (protocol sections 5, 8 and 9).

One background task reads frames: responses resolve the request that is waiting for them, and
everything else (events, lag reports, node requests, Error, Goodbye) goes to a bounded queue
read with ``next_event``. That keeps requests made from inside an event handler working while
the handler is running, exactly as the Rust SDK's ``ModuleClient``.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Deque, Dict, Iterable, List, Mapping, Optional, Type, TypeVar, Union

from . import codec
from ._wire import WireError, from_wire
from .events import EventMessage, EventType, parse_event
from .extend import HOOKS, RpcMethodSpec, error_result
from .responses import (
    BlockchainInfo,
    BlockData,
    BlockHeaderData,
    ChainTip,
    ErrorCode,
    MempoolInfo,
    PeerInfo,
    Subscription,
    SyncStatus,
    TransactionData,
    UtxoEntry,
)

log = logging.getLogger("blvm_module")
T = TypeVar("T")

#: Protocol versions this SDK speaks.
PROTOCOL_VERSIONS = (1,)
#: Seconds a request waits for its response by default (as the Rust SDK).
DEFAULT_REQUEST_TIMEOUT = 30.0
#: Events held for the module before the oldest undelivered ones are dropped as lag.
DEFAULT_EVENT_BUFFER = 1024


class ClientError(Exception):
    """Base of the SDK's connection and request errors."""


class Disconnected(ClientError):
    """The connection is closed; requests still waiting have failed."""


class RequestTimeout(ClientError):
    """The node did not answer a request in time."""


class RemoteError(ClientError):
    """The node answered a request with an error (``code`` from ErrorCode)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"node error {code} ({ErrorCode.name(code)}): {message}")
        self.code = code
        self.message = message

    @property
    def is_not_found(self) -> bool:
        """Whether the block, transaction, ... asked for does not exist."""
        return self.code == ErrorCode.NOT_FOUND


class HandshakeRefused(ClientError):
    """The node refused the handshake (bad token, no common version, ...)."""


@dataclass(frozen=True)
class HandshakeInfo:
    """What the node said in HandshakeAck."""

    protocol_version: int
    node_version: str
    module_id: int
    capabilities: List[str]


@dataclass(frozen=True)
class Lagged:
    """``count`` events addressed to this module in ``from_sequence..=to_sequence`` were dropped."""

    from_sequence: int
    to_sequence: int
    count: int


@dataclass(frozen=True)
class NodeRequest:
    """A request from the node (``RpcCall`` or ``Hook``); answer it with ``respond(id, ...)``."""

    id: int
    method: str
    params: Dict[str, Any]


@dataclass(frozen=True)
class NodeError:
    """The node reported a protocol error and is closing."""

    code: int
    message: str


@dataclass(frozen=True)
class Goodbye:
    """The node is closing the connection in an orderly way."""

    reason: str


#: What ``next_event`` yields.
Incoming = Union[EventMessage, Lagged, NodeRequest, NodeError, Goodbye]


@dataclass(frozen=True)
class ModuleEnv:
    """The ``BLVM_MODULE_*`` variables the node sets when it starts a module (section 2)."""

    socket: str
    name: str
    version: str
    token: Optional[str]
    data_dir: Optional[Path]
    config: Dict[str, Any]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> "ModuleEnv":
        """Reads the variables; raises ClientError when a required one is missing or bad."""
        socket_path, name = environ.get("BLVM_MODULE_SOCKET"), environ.get("BLVM_MODULE_NAME")
        if not socket_path or not name:
            raise ClientError("BLVM_MODULE_SOCKET and BLVM_MODULE_NAME must be set (is this run by a node?)")
        try:
            config = json.loads(environ.get("BLVM_MODULE_CONFIG") or "{}")
        except ValueError as e:
            raise ClientError(f"BLVM_MODULE_CONFIG is not JSON: {e}") from e
        if not isinstance(config, dict):
            raise ClientError("BLVM_MODULE_CONFIG must be a JSON object")
        data_dir = environ.get("BLVM_MODULE_DATA_DIR")
        return cls(
            socket=socket_path,
            name=name,
            version=environ.get("BLVM_MODULE_VERSION") or "0.1.0",
            token=environ.get("BLVM_MODULE_TOKEN") or None,
            data_dir=Path(data_dir) if data_dir else None,
            config=config,
        )


class ModuleClient:
    """A handshaken connection to the node. Create it with ``connect`` or ``connect_from_env``."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handshake: HandshakeInfo,
        env: Optional[ModuleEnv],
        max_frame: int,
        request_timeout: float,
        event_buffer: int,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._handshake = handshake
        self._env = env
        self._max_frame = max_frame
        self._request_timeout = request_timeout
        self._event_buffer = max(1, event_buffer)
        self._write_lock = asyncio.Lock()
        self._next_id = 1
        self._pending: Dict[int, "asyncio.Future[Dict[str, Any]]"] = {}
        self._incoming: Deque[Incoming] = collections.deque()
        self._dropped: Optional[List[int]] = None  # [from, to, count] of local drops not yet reported
        self._wake = asyncio.Event()
        self._closed = False
        self._read_task = asyncio.get_running_loop().create_task(self._read_loop())

    # ----- connecting -----

    @classmethod
    async def connect(
        cls,
        socket_path: str,
        module_name: str,
        module_version: str = "0.1.0",
        token: Optional[str] = None,
        *,
        max_frame: int = codec.DEFAULT_MAX_FRAME,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        event_buffer: int = DEFAULT_EVENT_BUFFER,
        env: Optional[ModuleEnv] = None,
    ) -> "ModuleClient":
        """Connects to ``socket_path`` and handshakes; raises HandshakeRefused if the node says no."""
        reader, writer = await asyncio.open_unix_connection(socket_path)
        try:
            writer.write(
                codec.encode(
                    {
                        "type": "Handshake",
                        "protocol_versions": list(PROTOCOL_VERSIONS),
                        "module_name": module_name,
                        "module_version": module_version,
                        "token": token,
                    },
                    codec.MAX_HANDSHAKE_FRAME,
                )
            )
            await writer.drain()
            reply = await codec.read_frame(reader, max_frame)
            info = _handshake_info(reply)
        except BaseException:
            writer.close()
            raise
        return cls(reader, writer, info, env, max_frame, request_timeout, event_buffer)

    @classmethod
    async def connect_from_env(cls, **options: Any) -> "ModuleClient":
        """Connects with the ``BLVM_MODULE_*`` variables; ``options`` as for ``connect``."""
        env = ModuleEnv.from_environ()
        return await cls.connect(env.socket, env.name, env.version, env.token, env=env, **options)

    # ----- what the node granted -----

    @property
    def handshake(self) -> HandshakeInfo:
        """The node's HandshakeAck: version, module id, granted capabilities."""
        return self._handshake

    def has_capability(self, capability: str) -> bool:
        """Whether the node granted ``capability`` (e.g. ``"report_health"``)."""
        return capability in self._handshake.capabilities

    @property
    def data_dir(self) -> Optional[Path]:
        """The module's own directory (BLVM_MODULE_DATA_DIR), if connected from the environment."""
        return self._env.data_dir if self._env else None

    @property
    def config(self) -> Dict[str, Any]:
        """The module's ``[config]`` table (BLVM_MODULE_CONFIG), empty when none."""
        return dict(self._env.config) if self._env else {}

    @property
    def is_closed(self) -> bool:
        """Whether the connection has ended."""
        return self._closed

    # ----- the incoming side -----

    async def next_event(self) -> Optional[Incoming]:
        """The next event, lag report, node request, Error or Goodbye; None once the node closed."""
        while True:
            if self._incoming:
                return self._incoming.popleft()
            if self._dropped is not None:
                lag, self._dropped = Lagged(*self._dropped), None
                return lag
            if self._closed:
                return None
            self._wake.clear()
            await self._wake.wait()

    async def _read_loop(self) -> None:
        """Reads frames until EOF or a protocol error, then fails whatever still waits."""
        try:
            while True:
                msg = await codec.read_frame(self._reader, self._max_frame)
                if msg is None:
                    break
                await self._dispatch(msg)
        except codec.FrameTooLarge as e:
            log.error("closing: %s", e)
            await self._send_quietly({"type": "Error", "code": ErrorCode.FRAME_TOO_LARGE, "message": str(e)})
        except codec.ProtocolError as e:
            log.error("closing: %s", e)
        except (ConnectionError, OSError, Disconnected) as e:
            log.warning("connection to the node failed: %s", e)
        finally:
            self._closed = True
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(Disconnected("the node closed the connection"))
            self._pending.clear()
            self._wake.set()

    async def _dispatch(self, msg: Dict[str, Any]) -> None:
        """Routes one frame: responses to their request, the rest to the bounded queue."""
        kind = msg["type"]
        try:
            if kind == "Response":
                fut = self._pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
                if fut is None:
                    log.warning("response to unknown request id %r ignored", msg.get("id"))
                elif not fut.done():
                    result = msg.get("result")
                    fut.set_result(result if isinstance(result, dict) else {})
            elif kind == "Event":
                self._push_event(parse_event(msg))
            elif kind == "Lagged":
                lag = from_wire(Lagged, msg)
                self._note_drop(lag.from_sequence, lag.to_sequence, lag.count)
            elif kind == "Request":
                await self._push_request(msg)
            elif kind == "Error":
                self._push(from_wire(NodeError, msg))
            elif kind == "Goodbye":
                self._push(from_wire(Goodbye, msg))
            else:
                log.warning("skipping unknown message type %r", kind)
        except WireError as e:
            # As the Rust SDK: a frame that cannot be decoded is skipped with a warning.
            log.warning("skipping undecodable %s: %s", kind, e)

    def _push(self, item: Incoming) -> None:
        """Queues ``item`` after any unreported local drop (so order is kept) and wakes the reader."""
        if self._dropped is not None:
            self._incoming.append(Lagged(*self._dropped))
            self._dropped = None
        self._incoming.append(item)
        self._wake.set()

    def _push_event(self, event: EventMessage) -> None:
        """Queues an event, or drops it as lag when the module is ``event_buffer`` events behind."""
        if len(self._incoming) >= self._event_buffer:
            self._note_drop(event.sequence, event.sequence, 1)
        else:
            self._push(event)

    def _note_drop(self, from_sequence: int, to_sequence: int, count: int) -> None:
        """Merges a dropped range (the node's or ours) into the lag report still to be delivered."""
        if self._dropped is None:
            self._dropped = [from_sequence, to_sequence, count]
        else:
            self._dropped = [
                min(self._dropped[0], from_sequence),
                max(self._dropped[1], to_sequence),
                self._dropped[2] + count,
            ]
        self._wake.set()

    async def _push_request(self, msg: Dict[str, Any]) -> None:
        """Queues a node request, refusing it at once (rate_limited) when the queue is full."""
        rid, request = msg.get("id"), msg.get("request")
        if not isinstance(rid, int) or not isinstance(request, dict) or not isinstance(request.get("method"), str):
            raise WireError("Request needs an integer id and a request map with a method")
        if len(self._incoming) >= self._event_buffer:
            await self.respond(rid, error_result(ErrorCode.RATE_LIMITED, "module queue full"))
            return
        params = {k: v for k, v in request.items() if k != "method"}
        self._push(NodeRequest(rid, request["method"], params))

    # ----- the outgoing side -----

    async def _send(self, msg: Dict[str, Any]) -> None:
        """Writes one frame; frames are never interleaved."""
        if self._closed:
            raise Disconnected("the connection is closed")
        frame = codec.encode(msg, self._max_frame)
        async with self._write_lock:
            try:
                self._writer.write(frame)
                await self._writer.drain()
            except (ConnectionError, OSError) as e:
                raise Disconnected(str(e)) from e

    async def _send_quietly(self, msg: Dict[str, Any]) -> None:
        """Best-effort send while closing."""
        try:
            self._writer.write(codec.encode(msg, self._max_frame))
            await self._writer.drain()
        except (ConnectionError, OSError, codec.ProtocolError):
            pass

    async def request(self, method: str, **params: Any) -> Dict[str, Any]:
        """Sends a request and returns the success ``body``; raises RemoteError on an error answer."""
        rid = self._next_id
        self._next_id += 1
        fut: "asyncio.Future[Dict[str, Any]]" = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._send({"type": "Request", "id": rid, "request": {"method": method, **params}})
            result = await asyncio.wait_for(fut, self._request_timeout)
        except asyncio.TimeoutError:
            raise RequestTimeout(f"{method}: no answer within {self._request_timeout} s") from None
        finally:
            self._pending.pop(rid, None)
        body = result.get("body")
        if result.get("status") == "Ok" and isinstance(body, dict):
            return body
        code, message = result.get("code"), result.get("message")
        raise RemoteError(code if isinstance(code, int) else ErrorCode.MALFORMED, str(message))

    async def _typed(self, method: str, kind: str, cls: Type[T], **params: Any) -> T:
        """A request whose answer must be body ``kind``, decoded into ``cls``."""
        return from_wire(cls, await self._expect(method, kind, **params), kind)

    async def _expect(self, method: str, kind: str, **params: Any) -> Dict[str, Any]:
        """A request whose answer must be body ``kind``."""
        body = await self.request(method, **params)
        if body.get("kind") != kind:
            raise RemoteError(ErrorCode.MALFORMED, f"expected {kind}, got {body.get('kind')!r}")
        return body

    async def ack(self, sequence: int) -> None:
        """Tells the node the event ``sequence`` is handled (only ack-required events need it)."""
        await self._send({"type": "Ack", "sequence": sequence})

    async def respond(self, request_id: int, result: Dict[str, Any]) -> None:
        """Answers node request ``request_id`` (see ``extend.rpc_result``, ``hook_answer``...)."""
        await self._send({"type": "Response", "id": request_id, "result": result})

    async def close(self, reason: str = "module exiting") -> None:
        """Says Goodbye and closes the connection."""
        if not self._closed:
            await self._send_quietly({"type": "Goodbye", "reason": reason})
        self._closed = True
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass
        self._read_task.cancel()
        try:
            await self._read_task
        except asyncio.CancelledError:
            pass

    # ----- node API (section 9) -----

    async def subscribe_events(self, event_types: Iterable[Union[EventType, str]], from_sequence: Optional[int] = None) -> Subscription:
        """Adds event types to the subscription; ``from_sequence`` replays retained chain events."""
        types = [str(EventType(t)) for t in event_types]
        return await self._typed("SubscribeEvents", "Subscribed", Subscription, event_types=types, from_sequence=from_sequence)

    async def unsubscribe(self, event_types: Iterable[Union[EventType, str]]) -> Subscription:
        """Removes event types from the subscription."""
        types = [str(EventType(t)) for t in event_types]
        return await self._typed("Unsubscribe", "Subscribed", Subscription, event_types=types)

    async def get_chain_tip(self) -> ChainTip:
        """The active chain's tip (read_chain)."""
        return await self._typed("GetChainTip", "ChainTip", ChainTip)

    async def get_block(self, *, hash: Optional[str] = None, height: Optional[int] = None) -> BlockData:
        """A block by hash or by active-chain height, exactly one of the two (read_chain)."""
        return await self._typed("GetBlock", "Block", BlockData, hash=hash, height=height)

    async def get_block_header(self, *, hash: Optional[str] = None, height: Optional[int] = None) -> BlockHeaderData:
        """A block header by hash or by height, exactly one of the two (read_chain)."""
        return await self._typed("GetBlockHeader", "BlockHeader", BlockHeaderData, hash=hash, height=height)

    async def get_transaction(self, txid: str) -> TransactionData:
        """A transaction from the mempool or the txindex (read_chain)."""
        return await self._typed("GetTransaction", "Transaction", TransactionData, txid=txid)

    async def get_utxo(self, txid: str, vout: int) -> Optional[UtxoEntry]:
        """An unspent output, or None when spent or unknown (read_chain)."""
        body = await self._expect("GetUtxo", "Utxo", txid=txid, vout=vout)
        return None if body.get("utxo") is None else from_wire(UtxoEntry, body["utxo"], "Utxo.utxo")

    async def get_mempool_info(self) -> MempoolInfo:
        """Mempool size and fees (read_mempool)."""
        return await self._typed("GetMempoolInfo", "MempoolInfo", MempoolInfo)

    async def get_mempool_txids(self) -> List[str]:
        """Txids in the mempool (read_mempool)."""
        body = await self._expect("GetMempoolTxids", "Txids")
        txids = body.get("txids")
        if not isinstance(txids, list) or not all(isinstance(t, str) for t in txids):
            raise RemoteError(ErrorCode.MALFORMED, "Txids.txids must be a list of strings")
        return txids

    async def get_peers(self) -> List[PeerInfo]:
        """Connected peers (read_network)."""
        body = await self._expect("GetPeers", "Peers")
        peers = body.get("peers")
        if not isinstance(peers, list):
            raise RemoteError(ErrorCode.MALFORMED, "Peers.peers must be a list")
        return [from_wire(PeerInfo, p, "Peers.peers") for p in peers]

    async def get_blockchain_info(self) -> BlockchainInfo:
        """Chain summary as getblockchaininfo (read_chain)."""
        return await self._typed("GetBlockchainInfo", "BlockchainInfo", BlockchainInfo)

    async def get_sync_status(self) -> SyncStatus:
        """Whether the node is still catching up (read_chain)."""
        return await self._typed("GetSyncStatus", "SyncStatus", SyncStatus)

    async def submit_transaction(self, hex_tx: str) -> str:
        """Submits a raw transaction to the mempool and returns its txid (submit_transactions)."""
        body = await self._expect("SubmitTransaction", "Submitted", hex=hex_tx)
        return str(body.get("txid"))

    async def report_health(self, healthy: bool, report: Optional[str] = None) -> None:
        """Answers a HealthCheck with the module's own verdict (report_health)."""
        await self._expect("ReportHealth", "Done", healthy=healthy, report=report)

    async def publish_event(self, name: str, data: Any) -> None:
        """Publishes a ModuleEvent in this module's namespace; ``data`` is sent as JSON (publish_events)."""
        await self._expect("PublishEvent", "Done", name=name, data=data if isinstance(data, str) else json.dumps(data))

    async def register_rpc_methods(self, methods: Iterable[RpcMethodSpec]) -> None:
        """Registers JSON-RPC methods served until the connection closes (register_rpc)."""
        specs = list(methods)
        for m in specs:
            m.check()
        wire = [{"name": m.name, "help": m.help, "params": list(m.params)} for m in specs]
        await self._expect("RegisterRpcMethods", "Done", methods=wire)

    async def register_hooks(self, hooks: Iterable[str]) -> None:
        """Takes part in ``mempool_accept`` / ``peer_connected`` decisions (hooks)."""
        names = list(hooks)
        unknown = [h for h in names if h not in HOOKS]
        if unknown:
            raise ValueError(f"unknown hooks {unknown}; known: {list(HOOKS)}")
        await self._expect("RegisterHooks", "Done", hooks=names)


def _handshake_info(reply: Optional[Dict[str, Any]]) -> HandshakeInfo:
    """The HandshakeAck's contents, or HandshakeRefused for anything else."""
    if reply is None:
        raise HandshakeRefused("the node closed the connection during the handshake")
    if reply["type"] == "Error":
        raise HandshakeRefused(f"node error {reply.get('code')} ({ErrorCode.name(reply.get('code', 0))}): {reply.get('message')}")
    if reply["type"] != "HandshakeAck":
        raise HandshakeRefused(f"expected HandshakeAck, got {reply['type']}")
    try:
        info = from_wire(HandshakeInfo, reply)
    except WireError as e:
        raise HandshakeRefused(str(e)) from e
    if info.protocol_version not in PROTOCOL_VERSIONS:
        raise HandshakeRefused(f"node chose protocol version {info.protocol_version}, which was not offered")
    return info
