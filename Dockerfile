FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir .
EXPOSE 8000
# ASGI: the pages and the live websockets on one port (docker-compose.yml runs the same).
CMD ["daphne", "--bind", "0.0.0.0", "--port", "8000", "config.asgi:application"]
