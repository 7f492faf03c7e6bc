FROM python:latest
WORKDIR /app
COPY . .
USER 1000
CMD ["python", "app.py"]
