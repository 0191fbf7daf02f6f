"""The unit tier: one process, no platform.

What belongs here: a rule, a use case, a Nameko dependency or entrypoint checked inside
the test's own process: plain functions, ``worker_factory`` workers, real databases
(SQLite files, and PostgreSQL when it answers: ``database_url`` in ``tests/conftest.py``)
and real sockets on loopback. No service process is started and nothing goes through
RabbitMQ; what a dependency would send is recorded instead, and said so in the test.
What does not: anything that needs the services running (``tests/stack``).
"""
