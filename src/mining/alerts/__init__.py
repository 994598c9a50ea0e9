"""Spike detection, episodes, routing and exactly-once alert delivery."""
