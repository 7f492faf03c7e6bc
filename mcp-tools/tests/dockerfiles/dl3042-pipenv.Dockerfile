FROM python:3.12-slim
WORKDIR /app
COPY Pipfile Pipfile.lock ./
RUN pip install --no-cache-dir pipenv==2024.4.0 && pipenv install --deploy --system
COPY . .
USER 1000
CMD ["python", "app.py"]
