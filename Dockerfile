# One image for every Curbside process (web1, web2, … and the one-shot migrate).
# docker-compose.yml runs it; docs/operations.md explains the deployment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CURBSIDE_VAR_DIR=/app/var

WORKDIR /app

# OCR of uploaded images (the PHI guard reads text burned into pictures, phi/ocr.py):
# Tesseract with its English and Spanish models. Without it uploads are refused.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first: pyproject.toml lists them and the project itself installs no modules
# (the apps run from the checkout), so a code change does not reinstall them.
COPY pyproject.toml ./
RUN pip install .

# .dockerignore keeps var/ (the development keyring and secret key), .venv and env files out.
COPY . .

# Not root. /app/var holds collected static files; nothing secret is written there in
# production (keys come from the environment and /run/secrets).
RUN useradd --system --uid 10001 --no-create-home --home-dir /app curbside \
    && mkdir -p /app/var/static \
    && chown -R curbside /app/var
USER curbside

EXPOSE 8000
# serve = uvicorn with the frame limit from settings (gateway/management/commands/serve.py).
# --proxy-headers: take the client address from nginx's X-Forwarded-For; safe because the
# web containers publish no port, so only nginx can reach them.
CMD ["python", "manage.py", "serve", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers"]
