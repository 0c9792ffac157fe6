"""The HTTP/2 protocol, sans I/O: h2 with its gate, validation and limits."""
