# Phalanx scheduler image: a venv built in a builder stage, copied into a slim glibc Python (OR-Tools ships
# manylinux wheels), run as a numeric non-root user (a named user fails runAsNonRoot checks).
FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/phalanx
COPY pyproject.toml constraints.txt README.md ./
COPY scheduler ./scheduler
RUN /opt/phalanx/bin/pip install --upgrade pip \
 && /opt/phalanx/bin/pip install -c constraints.txt .

FROM python:3.11-slim
COPY --from=builder /opt/phalanx /opt/phalanx
ENV PATH=/opt/phalanx/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["phalanx"]
CMD ["run"]
