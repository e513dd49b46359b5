# attn-drill in a container: grade a directory of submissions on any machine with Docker.
#   docker build -t attn-drill .
#   docker run --rm --network none -v "$PWD/submissions:/work:ro" attn-drill grade /work --jobs 2
# Runs as root inside the container on purpose: each grade then drops to its own unprivileged
# uid with a process cap (see README, "For teachers").
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ATTN_DRILL_HOME=/var/lib/attn-drill

# CPU-only PyTorch from PyTorch's CPU index (no CUDA libraries in the image).
ARG TORCH_VERSION=2.13.0
RUN pip install "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu

COPY . /tmp/attn-drill-src
RUN pip install /tmp/attn-drill-src && rm -rf /tmp/attn-drill-src \
    && attn-drill --version

WORKDIR /work
ENTRYPOINT ["attn-drill"]
CMD ["--help"]
