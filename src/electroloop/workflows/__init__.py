"""Prefect flows and the composition root that wires settings into concrete objects."""
