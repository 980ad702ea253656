"""`concertbook check`: a concurrent workload against a running server, faults injected
while it runs, and a history checker in the manner of Jepsen's (see docs/RELIABILITY.md)."""
