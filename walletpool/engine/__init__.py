"""The engine: builds every script call and decodes every reply. No I/O: the clients
send what it builds."""
