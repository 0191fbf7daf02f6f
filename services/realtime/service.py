"""The realtime service: the platform's one public door.

Its entrypoints live by domain in ``gateway/``; this class composes them and declares
the dependencies they share. Door mechanics: ``door.py`` and ``entrypoints.py``.
"""
from services.kernel.rpc import RpcClient
from services.realtime.dependencies import HandledEvents, MembershipCache, RateLimits, Sockets, Tokens
from services.realtime.gateway.accounts import AccountsGateway
from services.realtime.gateway.courses import CoursesGateway
from services.realtime.gateway.docs import DocsGateway
from services.realtime.gateway.health import HealthGateway


class RealtimeService(HealthGateway, AccountsGateway, CoursesGateway, DocsGateway):
    name = "realtime"

    sockets = Sockets()
    tokens = Tokens()
    memberships = MembershipCache()
    limits = RateLimits()
    handled = HandledEvents()

    auth = RpcClient("auth")
    courses = RpcClient("courses")
