#!/usr/bin/env python3
"""blvm example module in Python, on the blvm_module SDK (sdk/python).

What it does: connects to the node and handshakes (the SDK reads BLVM_MODULE_*), subscribes to
NodeShutdown, StorageFlush and HealthCheck, reports its health on every HealthCheck (if the
node granted `report_health`), and records what happens as JSON lines in `received.jsonl` in
its data directory. The SDK acks NodeShutdown and StorageFlush when the handler returns.

Configuration (BLVM_MODULE_CONFIG, the `[config]` table of module.toml):
  healthy (bool, default true): what to report on HealthCheck.

Exit status: 0 when the node closes the connection; 2 when it cannot connect or the node
refuses the handshake or the subscription.

Needs `pip install ./sdk/python` (which brings msgpack).
"""
import asyncio
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from blvm_module import (
    ClientError,
    EventContext,
    EventHandler,
    EventMessage,
    EventType,
    Lagged,
    ModuleClient,
    events,
    init_logging,
    run_with_handler,
)

SUBSCRIBE = [EventType.NODE_SHUTDOWN, EventType.STORAGE_FLUSH, EventType.HEALTH_CHECK]
log = logging.getLogger("python-example")


class Recorder:
    """Appends one JSON object per line to received.jsonl (bin values as hex)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file: TextIO = open(path, "a", encoding="utf-8")

    def write(self, kind: str, **fields: Any) -> None:
        line = {"kind": kind, "t": round(time.time(), 3), **fields}
        self.file.write(json.dumps(line, default=lambda b: b.hex()) + "\n")
        self.file.flush()


class Example(EventHandler):
    """Records events, answers health checks; the SDK does the acking."""

    def __init__(self, rec: Recorder, healthy: bool) -> None:
        self.rec = rec
        self.healthy = healthy
        self.events_seen = 0

    async def on_event(self, event: EventMessage, ctx: EventContext) -> None:
        self.events_seen += 1
        self.rec.write(
            "event",
            sequence=event.sequence,
            timestamp_ms=event.timestamp_ms,
            event_type=str(event.event_type),
            payload=dataclasses.asdict(event.payload),
            requires_ack=event.requires_ack,
        )
        if isinstance(event.payload, events.HealthCheck) and ctx.client.has_capability("report_health"):
            report = json.dumps({"events_seen": self.events_seen, "pid": os.getpid()})
            await ctx.client.report_health(self.healthy, report)
            self.rec.write("health_reported", healthy=self.healthy, report=report)
        # A real module would save state here; the ack goes out when this returns.

    async def on_lagged(self, lagged: Lagged) -> None:
        self.rec.write("lagged", **dataclasses.asdict(lagged))


async def main() -> int:
    try:
        client = await ModuleClient.connect_from_env()
    except (OSError, ClientError) as e:
        log.error("cannot connect: %s", e)
        return 2
    data_dir = client.data_dir or Path(".")
    rec = Recorder(data_dir / "received.jsonl")
    info = client.handshake
    rec.write("connected", module_id=info.module_id, protocol_version=info.protocol_version,
              node_version=info.node_version, capabilities=info.capabilities)
    try:
        sub = await client.subscribe_events(SUBSCRIBE)
    except ClientError as e:
        log.error("subscribe failed: %s", e)
        await client.close()
        return 2
    rec.write("subscribed", event_types=sub.event_types, current_sequence=sub.current_sequence)
    handler = Example(rec, bool(client.config.get("healthy", True)))
    summary = await run_with_handler(client, handler)
    await client.close()
    rec.write("closed", **dataclasses.asdict(summary))
    return 0


if __name__ == "__main__":
    init_logging()
    sys.exit(asyncio.run(main()))
