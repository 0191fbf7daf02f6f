"""Metrics: the door's Prometheus text for the scraper (``services/realtime/metrics.py``)."""
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from werkzeug.wrappers import Response

from services.realtime import metrics
from services.realtime.entrypoints import ANYONE, api
from services.realtime.gateway import Gateway


class MetricsGateway(Gateway):
    door_metrics = metrics.DoorMetrics()
    # RpcClient reports the duration of every call the door makes here
    observe_rpc = staticmethod(metrics.observe_rpc)

    @api("GET", "/metrics", summary="Prometheus metrics of this door replica", callers=ANYONE, tag="health",
         description="Prometheus text format, not wrapped in {data}; the Kubernetes Ingress does not route it.")
    def scrape(self, request):
        return Response(generate_latest(REGISTRY), mimetype=CONTENT_TYPE_LATEST)
