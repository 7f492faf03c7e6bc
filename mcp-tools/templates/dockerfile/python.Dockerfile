FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY . .
RUN {build}
RUN useradd --create-home appuser
USER appuser
EXPOSE {port}
CMD {cmd}
