"""The online-course platform: one package per Nameko service, plus the shared kernel.

This is the one list of services: the runner, the stack launcher, the door's readiness
check and the deployment tests all read it.
"""

# the services behind the door, each with its own database and a ``health`` RPC
DOMAIN_SERVICES = ("auth", "courses", "progress", "quizzes", "chat")
# started in this order; the door last, since it is ready only when they answer
SERVICES = DOMAIN_SERVICES + ("realtime",)
