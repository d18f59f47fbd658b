# The app and worker image for docker-compose and container deploys.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libmemcached-dev zlib1g-dev ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# The admin's CSS and the docs page's Redoc, served by WhiteNoise from the image.
RUN python manage.py collectstatic --no-input -v 0

RUN useradd --system --no-create-home instagram
USER instagram
EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn/gunicorn.conf.py", "--bind", "0.0.0.0:8000", "instagram.wsgi"]
