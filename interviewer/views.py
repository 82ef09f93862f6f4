"""Operations endpoints: liveness, readiness, Prometheus metrics, the admin's login and the staff dashboard."""

import hmac
import ipaddress
import logging
import time
from datetime import datetime, time as dtime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Avg, Count, Sum
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from interviews.models import Interview, Turn
from lib.ratelimit import client_address
from speech.models import SpeechTask

log = logging.getLogger(__name__)


@require_GET
@never_cache
def healthz(request):
    """Liveness: the process answers. Touches nothing else."""
    return HttpResponse("ok", content_type="text/plain")


@require_GET
@never_cache
def readyz(request):
    """Readiness: the database, Redis (when used) and the background workers.
    Anyone may ask; only staff and the metrics scraper see which clusters (their
    host names and process ids say too much about the deployment)."""
    workers = _check_workers()
    if not (_is_staff(request) or _has_metrics_token(request)):
        workers.pop("clusters")
    checks = {"database": _check_database(), "redis": _check_redis(), "workers": workers}
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503)


def _timed(probe):
    started = time.monotonic()
    try:
        probe()
    except Exception as exc:
        # Details go to the log; the public answer names only the kind of failure.
        log.warning("readiness probe failed: %s: %s", type(exc).__name__, exc)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def _check_database():
    def probe():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    return _timed(probe)


def _check_redis():
    if not settings.REDIS_URL:
        return {"ok": True, "skipped": "REDIS_URL is not set"}

    def probe():
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.ping()
        finally:
            client.close()

    return _timed(probe)


def _check_workers():
    """django-q2 clusters alive: each saves a heartbeat (expiring after 3 s) in
    the broker's cache. The heartbeat does not say which queue a cluster
    serves, so this counts clusters and lists them."""
    from django_q.conf import Conf
    from django_q.status import Stat

    try:
        stats = Stat.get_all()
    except Exception as exc:
        log.warning("cannot read django-q2 heartbeats: %s: %s", type(exc).__name__, exc)
        return {"ok": False, "error": type(exc).__name__, "clusters": []}
    clusters = [
        {
            "id": str(stat.cluster_id),
            "host": stat.host,
            "status": str(stat.status),
            "workers": len(stat.workers),
            "seen": stat.timestamp.isoformat() if stat.timestamp else None,
        }
        for stat in stats
    ]
    alive = {str(Conf.IDLE), str(Conf.WORKING), str(Conf.STARTING)}
    running = [c for c in clusters if c["status"] in alive]
    required = settings.READYZ_MIN_CLUSTERS
    queues = ["default", *sorted((settings.Q_CLUSTER.get("ALT_CLUSTERS") or {}).keys())]
    return {"ok": len(running) >= required, "running": len(running), "required": required, "queues": queues, "clusters": clusters}


# ----- /metrics -----


def _client_allowed(address):
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in settings.METRICS_ALLOWED_IPS:
        try:
            if client in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _has_metrics_token(request):
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    return bool(token) and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode())


def _is_staff(request):
    return request.user.is_authenticated and request.user.is_active and request.user.is_staff


def metrics_allowed(request):
    if settings.DEBUG:
        return True
    # The client address behind TRUSTED_PROXIES, so a forged X-Forwarded-For
    # cannot claim an allowed address and a proxy's own address is not the client's.
    return _has_metrics_token(request) or _client_allowed(client_address(request))


@require_GET
@never_cache
def metrics(request):
    if not metrics_allowed(request):
        raise Http404
    import lib.metrics  # noqa: F401  registers the app's metrics and collectors
    from django_prometheus.exports import ExportToDjangoView

    return ExportToDjangoView(request)


# ----- the admin's login -----


@require_GET
@never_cache
def admin_login(request):
    """The admin's own login form checks passwords with none of allauth's
    limits; send staff to allauth's login instead, and back to the admin."""
    if request.user.is_authenticated:
        if _is_staff(request):
            return redirect("admin:index")
        # Signed in, but not staff: another login would only loop back here.
        raise PermissionDenied
    next_url = request.GET.get("next") or reverse("admin:index")
    return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")


# ----- the staff dashboard -----


def _percentile(queryset, field, fraction, count):
    """The value at `fraction` of the sorted column, fetched as one row."""
    if not count:
        return None
    index = min(count - 1, int(fraction * count))
    return queryset.order_by(field).values_list(field, flat=True)[index]


@require_GET
def staff_dashboard(request):
    """Today's numbers for staff. Everyone else gets a 404: the page's existence is not advertised."""
    if not (request.user.is_authenticated and request.user.is_active and request.user.is_staff):
        raise Http404
    start = timezone.make_aware(datetime.combine(timezone.localdate(), dtime.min))
    end = start + timedelta(days=1)
    today = {"gte": start, "lt": end}

    def between(field):
        return {f"{field}__{op}": value for op, value in today.items()}

    started = Interview.objects.filter(**between("created_at"))
    usage = started.aggregate(
        calls=Sum("llm_calls"), errors=Sum("llm_errors"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), seconds=Sum("llm_seconds")
    )
    completed = Interview.objects.filter(status=Interview.Status.COMPLETED, **between("completed_at"))
    model_turns = Turn.objects.filter(speaker=Turn.Speaker.INTERVIEWER, model_ms__isnull=False, **between("created_at"))
    turn_count = model_turns.count()
    spoken = Turn.objects.filter(speaker=Turn.Speaker.CANDIDATE, source=Turn.Source.LIVE_VOICE, **between("created_at"))
    sent_by = dict(spoken.values_list("ended_by").annotate(n=Count("id")).order_by())
    context = {
        "day": start,
        "started": started.count(),
        "completed": completed.count(),
        "abandoned": Interview.objects.filter(status=Interview.Status.ABANDONED, **between("updated_at")).count(),
        "active": Interview.objects.filter(status=Interview.Status.ACTIVE).count(),
        "answers": Turn.objects.filter(speaker=Turn.Speaker.CANDIDATE, **between("created_at")).count(),
        "average_score": completed.aggregate(avg=Avg("overall_score"))["avg"],
        "usage": {k: v or 0 for k, v in usage.items()},
        "turns_measured": turn_count,
        "p50_ms": _percentile(model_turns, "model_ms", 0.50, turn_count),
        "p95_ms": _percentile(model_turns, "model_ms", 0.95, turn_count),
        # Spoken answers by what sent them (Turn.EndedBy); "" is any other way,
        # e.g. after the stream was closed by the server.
        "sent_by": [{"key": key, "label": label, "n": sent_by.get(key, 0)} for key, label in Turn.EndedBy.choices],
        "sent_otherwise": sent_by.get("", 0),
        "speech": list(
            SpeechTask.objects.filter(**between("created_at")).values("kind", "status").annotate(n=Count("id")).order_by("kind", "status")
        ),
    }
    return render(request, "staff/dashboard.html", context)
