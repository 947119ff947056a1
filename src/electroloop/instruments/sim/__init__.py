"""Protocol-true instrument simulators: TCP servers on loopback backed by `simulations` physics."""
