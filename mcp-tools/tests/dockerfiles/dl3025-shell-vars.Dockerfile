FROM python:3.12-slim
WORKDIR /app
COPY . .
USER 1000
CMD gunicorn -b 0.0.0.0:$PORT app:app
