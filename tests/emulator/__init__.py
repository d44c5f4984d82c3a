"""An emulator of the Discord HTTP API v10 for the tap's tests, served over loopback."""

from tests.emulator.server import Emulator, RequestRecord, Settings
from tests.emulator.world import World, WorldSpec

__all__ = ["Emulator", "RequestRecord", "Settings", "World", "WorldSpec"]
