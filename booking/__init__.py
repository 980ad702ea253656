"""The booking domain, its services, and the adapters that give it a runtime."""
