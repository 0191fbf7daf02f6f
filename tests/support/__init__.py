"""Helpers shared by the tests and the benchmark (``bench/``), each written once.

- ``stack``: free ports, a RabbitMQ vhost of one's own, the whole platform started as
  ``make run`` starts it, and its processes' logs.
- ``api``: the door's HTTP API (``Api``) and the people and courses a scenario needs (``Campus``).
- ``sockets``: recording Socket.IO clients, in Python and in Node.
- ``forge``: access tokens signed with the stack's key, and the classic forgeries.
- ``postgres``: a fresh PostgreSQL database of one's own.
- ``crowd``: many stock JavaScript clients asking for recovery in one Node process, the
  numbered room events they receive, and the judging of what each got (lost, duplicated).
- ``proxies``: a TCP proxy in front of the doors that cuts, half-opens and moves connections.

No fixtures here: each tier's ``conftest.py`` turns these into the fixtures it needs.
"""
