#!/usr/bin/env python3
"""SDK module for the lifecycle test: subscribes to every lifecycle event and appends each typed
event to `<data_dir>/events.jsonl` (payload class, fields, sequence, whether the SDK will ack).

Exercises the auto-ack rule: a manual StorageFlush makes the handler raise (the SDK must log it
and still ack); DataCleanup is acked early with `ctx.ack()` (the SDK must not ack twice);
NodeShutdown writes `shutdown.json` a moment before returning (the ack must follow the work);
HealthCheck is answered with ReportHealth from inside the handler.
"""
import asyncio
import dataclasses
import json
import sys
import time

import blvm_module
from blvm_module import LIFECYCLE_EVENTS, EventContext, EventHandler, EventMessage, events


class Recorder(EventHandler):
    """Writes one JSON line per event into the module's data directory."""

    def __init__(self) -> None:
        self.out = None

    async def on_event(self, event: EventMessage, ctx: EventContext) -> None:
        if isinstance(event.payload, events.DataCleanup):
            await ctx.ack()
        line = {
            "sequence": event.sequence,
            "event_type": str(event.event_type),
            "class": type(event.payload).__name__,
            "payload": dataclasses.asdict(event.payload),
            "requires_ack": ctx.requires_ack,
            "acked_early": ctx.is_acked,
        }
        self.write(ctx, "events.jsonl", json.dumps(line) + "\n", "a")
        p = event.payload
        if isinstance(p, events.HealthCheck) and ctx.client.has_capability("report_health"):
            await ctx.client.report_health(True, json.dumps({"seen": event.sequence}))
        if isinstance(p, events.StorageFlush) and p.reason == "manual":
            raise RuntimeError("python handler failed on purpose")
        if isinstance(p, events.NodeShutdown):
            await asyncio.sleep(0.2)
            self.write(ctx, "shutdown.json", json.dumps({"saved_at_ms": int(time.time() * 1000)}), "w")

    @staticmethod
    def write(ctx: EventContext, name: str, text: str, mode: str) -> None:
        assert ctx.client.data_dir is not None
        ctx.client.data_dir.mkdir(parents=True, exist_ok=True)
        with open(ctx.client.data_dir / name, mode, encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    sys.exit(blvm_module.run(Recorder(), LIFECYCLE_EVENTS))
