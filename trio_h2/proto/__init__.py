"""The sans-IO protocol layer: no trio, no sockets; state and decisions only."""
