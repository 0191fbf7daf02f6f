"""The realtime service: the platform's one public door.

Its entrypoints live by domain in ``gateway/``; this class composes them and declares
the dependencies they share. Door mechanics: ``door.py`` and ``entrypoints.py``.
"""
from services.kernel.rpc import RpcClient
from services.realtime.dependencies import Sockets, Tokens
from services.realtime.gateway.accounts import AccountsGateway
from services.realtime.gateway.health import HealthGateway
from services.realtime.gateway.metrics import MetricsGateway


class RealtimeService(HealthGateway, MetricsGateway, AccountsGateway):
    name = "realtime"

    sockets = Sockets()
    tokens = Tokens()
    auth = RpcClient("auth")
