"""The trio side: listeners, connection drivers, streams, response bodies, socket I/O."""
