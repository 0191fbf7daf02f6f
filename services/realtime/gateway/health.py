"""Liveness and readiness of the door and the services behind it."""
import eventlet

from services import DOMAIN_SERVICES
from services.kernel.errors import Unavailable
from services.realtime import answers
from services.realtime.entrypoints import ANYONE, api
from services.realtime.gateway import Gateway



class HealthGateway(Gateway):
    @api("GET", "/health/live", summary="The door process is up", callers=ANYONE, answer=answers.Status,
         tag="health")
    def live(self, request):
        return {"status": "ok"}

    @api("GET", "/health/ready", summary="The broker and every backing service answer", callers=ANYONE,
         answer=answers.Status, errors=(503,), tag="health")
    def ready(self, request):
        def check(service):
            try:
                getattr(self, service).health(timeout=2)
                return service, "ok"
            except Exception as exc:  # any failure means "not ready", with the reason
                return service, str(exc) or type(exc).__name__

        if not self.sockets.ready:
            raise Unavailable("not ready: the room log is still being read, or this door is stopping")
        checks = dict(eventlet.GreenPool().imap(check, DOMAIN_SERVICES))
        failing = {service: state for service, state in checks.items() if state != "ok"}
        if failing:
            raise Unavailable("not ready: " + ", ".join(f"{s}: {state}" for s, state in failing.items()))
        return {"status": "ready", "services": checks}
