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

python-json-logger writes the lines (message, traceback, JSON); JsonFormatter
only picks the fields. The request id stays ours rather than django-guid's or
asgi-correlation-id's: django-guid accepts either UUIDs only (a proxy's
"edge-4f1c2a9b" would be replaced) or anything at all (a header could break a
log line), and asgi-correlation-id is ASGI-only (the WSGI server and the test
client would get no id) and brings in Starlette. Either way the user and
interview ids, set after authentication and URL resolution, need this
middleware anyway.
"""

import re
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.signals import request_finished
from pythonjsonlogger.json import JsonFormatter as LibraryJsonFormatter

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


FIELDS = ("time", "level", "logger", "message", "request_id", "user_id", "interview_id", "exc")


class JsonFormatter(LibraryJsonFormatter):
    def __init__(self):
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exc"},
            json_ensure_ascii=False,
        )

    def add_fields(self, log_data, record, message_dict):
        super().add_fields(log_data, record, message_dict)
        log_data["time"] = datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds")
        log_data.update(current())

    def process_log_record(self, log_data):
        # The library also copies every attribute a logger attached to the
        # record (django.request's request among them): keep only ours.
        return {name: log_data[name] for name in FIELDS if name in log_data}


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
