"""An emulator of the Discord HTTP API v10 for the tap's tests, served over loopback.

    from tests.emulator import Emulator, WorldSpec

    with Emulator(WorldSpec.small(), bot_token="test-bot-token") as emu:
        emu.api_url  # http://127.0.0.1:<port>/api/v10

See tests/emulator/README.md for the world, the routes, the knobs and the faults.
"""

from tests.emulator.core import Emulator, Principal, RequestRecord, Settings
from tests.emulator.spec import WorldSpec
from tests.emulator.worldgen import World

__all__ = ["Emulator", "Principal", "RequestRecord", "Settings", "World", "WorldSpec"]
