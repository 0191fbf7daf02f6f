"""The realtime service: the platform's one public door.

Its entrypoints live by domain in ``gateway/``; this class composes them and declares
the dependencies they share. Door mechanics: ``door.py`` and ``entrypoints.py``.
"""
from nameko.dependency_providers import Config

from services.kernel.rpc import RpcClient
from services.realtime.dependencies import (
    ChatMessages, ChatMutes, ClientAddresses, HandledEvents, MembershipCache, ProgressReports, ProgressThrottle,
    RateLimits, RevokedSessions, Sockets, Tokens,
)
from services.realtime.gateway.accounts import AccountsGateway
from services.realtime.gateway.chat import ChatGateway
from services.realtime.gateway.courses import CoursesGateway
from services.realtime.gateway.docs import DocsGateway
from services.realtime.gateway.health import HealthGateway
from services.realtime.gateway.metrics import MetricsGateway
from services.realtime.gateway.progress import ProgressGateway
from services.realtime.gateway.quizzes import QuizzesGateway
from services.realtime.gateway.relays import RelaysGateway


class RealtimeService(HealthGateway, MetricsGateway, AccountsGateway, CoursesGateway, ChatGateway,
                      ProgressGateway, QuizzesGateway, RelaysGateway, DocsGateway):
    name = "realtime"

    sockets = Sockets()
    tokens = Tokens()
    memberships = MembershipCache()
    limits = RateLimits()
    addresses = ClientAddresses()
    handled = HandledEvents()
    revoked_sessions = RevokedSessions()
    config = Config()
    progress_throttle = ProgressThrottle()
    progress_reports = ProgressReports()
    chat_messages = ChatMessages()
    chat_mutes = ChatMutes()

    auth = RpcClient("auth")
    courses = RpcClient("courses")
    progress = RpcClient("progress")
    quizzes = RpcClient("quizzes")
    chat = RpcClient("chat")
