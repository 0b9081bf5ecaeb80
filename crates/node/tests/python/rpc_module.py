#!/usr/bin/env python3
"""SDK module serving a JSON-RPC method (docs/module-protocol.md section 9.1).

Registers `pygreet ( "name" "times" )`: returns {"greeting": "hello <name>", "times": n}; a
missing name is JSON-RPC error -8. Named parameters arrive positionally (the node maps them).
"""
import sys
from typing import Any, List

import blvm_module
from blvm_module import EventHandler, ModuleClient, RpcError, RpcMethodSpec


class Greeter(EventHandler):
    """One RPC method; NodeShutdown is acked by the SDK."""

    def rpc_methods(self) -> List[RpcMethodSpec]:
        return [RpcMethodSpec("pygreet", "Greets someone from Python.", ["name", "times"])]

    async def on_rpc_call(self, name: str, params: List[Any], client: ModuleClient) -> Any:
        who = params[0] if params else None
        if not isinstance(who, str) or not who:
            raise RpcError(-8, "name is required")
        times = params[1] if len(params) > 1 and params[1] is not None else 1
        return {"greeting": "hello " + who, "times": times}


if __name__ == "__main__":
    sys.exit(blvm_module.run(Greeter()))
