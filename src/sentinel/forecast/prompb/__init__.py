"""Generated protobuf messages of Prometheus's remote-read protocol (see ``remote.proto``)."""
