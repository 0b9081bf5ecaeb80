#!/usr/bin/env python3
"""SDK hook module: refuses transactions from entering the mempool.

`pyblock txid` (JSON-RPC) adds a txid to the block list; the `mempool_accept` hook refuses
listed transactions with the configured `reason` (default "blocked-by-python") and allows the
rest. Every hook call is appended to `<data_dir>/hook_calls.jsonl` (txid, wtxid, raw length).
"""
import json
import sys
from typing import Any, List, Set

import blvm_module
from blvm_module import EventHandler, HookCall, HookVerdict, MempoolAcceptCall, ModuleClient, RpcError, RpcMethodSpec


class Policy(EventHandler):
    """Block list fed over JSON-RPC, enforced by the mempool_accept hook."""

    def __init__(self) -> None:
        self.blocked: Set[str] = set()

    def rpc_methods(self) -> List[RpcMethodSpec]:
        return [RpcMethodSpec("pyblock", "Refuses a txid from the mempool.", ["txid"])]

    def hooks(self) -> List[str]:
        return ["mempool_accept"]

    async def on_rpc_call(self, name: str, params: List[Any], client: ModuleClient) -> Any:
        txid = params[0] if params else None
        if not isinstance(txid, str) or len(txid) != 64:
            raise RpcError(-8, "txid must be 64 hex digits")
        self.blocked.add(txid)
        return len(self.blocked)

    async def on_hook(self, call: HookCall, client: ModuleClient) -> HookVerdict:
        assert isinstance(call, MempoolAcceptCall)
        assert client.data_dir is not None
        client.data_dir.mkdir(parents=True, exist_ok=True)
        with open(client.data_dir / "hook_calls.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"txid": call.txid, "wtxid": call.wtxid, "raw_len": len(call.raw)}) + "\n")
        if call.txid in self.blocked:
            return HookVerdict.refused(client.config.get("reason", "blocked-by-python"))
        return HookVerdict.allowed()


if __name__ == "__main__":
    sys.exit(blvm_module.run(Policy()))
