"""Throwaway servers and tours for development, tests and the demo: a redis-server and
a PostgreSQL started on free loopback ports, the demo, the quickstart."""
