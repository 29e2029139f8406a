FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY commands commands
COPY projections projections
COPY read_api read_api
COPY infra infra
RUN pip install --no-cache-dir .
ENV CALENDAR_DATA_DIR=/data
EXPOSE 8000
CMD ["calctl", "serve", "--host", "0.0.0.0", "--port", "8000"]
