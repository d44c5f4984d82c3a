"""Allow `python -m tap_discord`."""

from tap_discord.tap import TapDiscord

TapDiscord.cli()
