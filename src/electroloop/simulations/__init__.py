"""Physics behind the simulators: electrolyte properties grounded in published data."""
