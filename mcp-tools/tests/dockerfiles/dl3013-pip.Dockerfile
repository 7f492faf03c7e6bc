FROM python:3.12-slim
WORKDIR /app
RUN pip install --no-cache-dir gunicorn flask==3.0.3
COPY . .
USER 1000
CMD ["gunicorn", "app:app"]
