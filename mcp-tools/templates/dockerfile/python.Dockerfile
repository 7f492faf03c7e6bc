FROM python:{tag}-slim AS builder
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
{install}
FROM python:{tag}-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH="/opt/venv/bin:$PATH"{pythonpath}
WORKDIR /app
RUN useradd --no-log-init --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
COPY . .
USER 10001
{expose}{healthcheck}CMD {cmd}
