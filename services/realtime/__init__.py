"""Realtime: the platform's one public door (HTTP API + Socket.IO on port 5000)."""
