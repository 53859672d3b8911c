"""Exchange protocols, the WebSocket session, and the path into Kafka."""
