"""tap-discord: a Singer tap for Discord built on the Meltano Singer SDK."""
