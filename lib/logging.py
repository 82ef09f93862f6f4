"""Structured logs: one JSON object per line, tagged with the request, user and interview.

RequestContextMiddleware gives every request an id (the incoming X-Request-ID
if it looks like one, else a new uuid4), echoes it in the response, and keeps
it, the user's id and the interview's id in context variables that
JsonFormatter adds to every line logged while the request runs. Consumers call
bind(interview_id=...) so socket work is tagged too; tasks started from there
inherit the values.

Only these fields and the message are written: never request bodies, headers
or anything a logger attached to the record (django.request attaches the
request itself).
"""

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.signals import request_finished

request_id_var = ContextVar("request_id", default=None)
user_id_var = ContextVar("user_id", default=None)
interview_id_var = ContextVar("interview_id", default=None)

HEADER = "X-Request-ID"
# What a proxy or client may send: short, and nothing that could break a log line.
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$")


def bind(**values):
    """Tag what follows in this context (request, socket or task) with these ids."""
    variables = {"request_id": request_id_var, "user_id": user_id_var, "interview_id": interview_id_var}
    for name, value in values.items():
        variables[name].set(None if value is None else str(value))


def current():
    return {"request_id": request_id_var.get(), "user_id": user_id_var.get(), "interview_id": interview_id_var.get()}


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **current(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RequestContextMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        self._start(request)
        response = self.get_response(request)
        response[HEADER] = request.request_id
        return response

    async def _acall(self, request):
        self._start(request)
        response = await self.get_response(request)
        response[HEADER] = request.request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Authentication has run by now; read the user only if it is already
        # loaded or this runs in a thread (a sync hook always does).
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            user_id_var.set(str(user.pk))
        if view_kwargs.get("interview_id"):
            interview_id_var.set(str(view_kwargs["interview_id"]))
        return None

    @staticmethod
    def _start(request):
        incoming = request.headers.get(HEADER, "")
        request.request_id = incoming if SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        bind(request_id=request.request_id, user_id=None, interview_id=None)


# The values stay set until the response is closed, so Django's own line about
# the response ("Not Found: /x", logged after the middleware returns) carries
# them too. Under ASGI each request runs in its own task and its values end
# with it; a thread serving requests one after another (WSGI, the test client)
# is cleared here.
def _clear_context(**kwargs):
    bind(request_id=None, user_id=None, interview_id=None)


request_finished.connect(_clear_context, dispatch_uid="lib.logging.clear_context")
