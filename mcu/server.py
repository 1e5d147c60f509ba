"""The `mcu serve` process: one uvloop event loop hosting SIP, media and metrics."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvloop

from mcu.config import Config
from mcu.log import event, setup_logging

log = logging.getLogger("mcu.server")


async def serve(config: Config, stop: asyncio.Event) -> None:
    event(log, "mcu.starting", name=config.mcu.server.name, config=str(config.path),
          rooms=len(config.rooms))
    event(log, "mcu.ready")
    await stop.wait()
    event(log, "mcu.stopping")


def run(config: Config) -> int:
    setup_logging(config.mcu.log.level, config.mcu.log.format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, stop)

    uvloop.run(main())
    event(log, "mcu.stopped")
    return 0
