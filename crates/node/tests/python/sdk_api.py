#!/usr/bin/env python3
"""SDK module calling every node API request once, on NodeStartupCompleted, and writing the
typed answers to `<data_dir>/api.json` (failures as {"error": code}) for the test to compare
with the node's JSON-RPC answers.
"""
import dataclasses
import json
import sys
from typing import Any, Awaitable, Dict

import blvm_module
from blvm_module import EventContext, EventHandler, EventMessage, EventType, RemoteError, events


def plain(value: Any) -> Any:
    """JSON-ready form of an SDK result (dataclasses as maps, bytes as hex)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


class Caller(EventHandler):
    """Calls the API once the node has started."""

    async def on_event(self, event: EventMessage, ctx: EventContext) -> None:
        if not isinstance(event.payload, events.NodeStartupCompleted):
            return
        c = ctx.client
        calls: Dict[str, Awaitable[Any]] = {
            "chain_tip": c.get_chain_tip(),
            "blockchain_info": c.get_blockchain_info(),
            "sync_status": c.get_sync_status(),
            "block_0": c.get_block(height=0),
            "header_0": c.get_block_header(height=0),
            "utxo_missing": c.get_utxo("00" * 32, 0),
            "transaction_missing": c.get_transaction("00" * 32),
            "mempool_info": c.get_mempool_info(),
            "mempool_txids": c.get_mempool_txids(),
            "peers": c.get_peers(),
            "block_both_ids": c.get_block(hash="00" * 32, height=0),
            "publish": c.publish_event("started", {"ok": True}),
            "submit_garbage": c.submit_transaction("00"),
        }
        out: Dict[str, Any] = {}
        for name, call in calls.items():
            try:
                out[name] = plain(await call)
            except RemoteError as e:
                out[name] = {"error": e.code}
        assert c.data_dir is not None
        # Written whole then renamed, so the test never reads a half-written file.
        (c.data_dir / "api.json.tmp").write_text(json.dumps(out))
        (c.data_dir / "api.json.tmp").rename(c.data_dir / "api.json")


if __name__ == "__main__":
    sys.exit(blvm_module.run(Caller(), [EventType.NODE_STARTUP_COMPLETED, EventType.NODE_SHUTDOWN]))
