"""The shared kernel every service imports: config, errors, tokens, database, events, RPC.

Kept small on purpose. Nothing here knows about courses, quizzes or sockets, and
importing this package has no side effects (the runner monkey-patches first).
"""
