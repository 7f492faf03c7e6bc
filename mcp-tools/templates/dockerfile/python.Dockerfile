FROM python:{tag}-slim AS builder
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
{install}
FROM python:{tag}-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH="/opt/venv/bin:$PATH"{pythonpath}
# The app's own user, whose home is /app: the sources stay root's, but the app may create
# files beside them (Flask's instance folder, a SQLite file, caches).
RUN useradd --no-log-init --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && install -d -o 10001 -g 10001 /app
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY . .
USER 10001
{expose}{healthcheck}CMD {cmd}
