"""The pages of upgrades, by topic."""
