# One image for every service; each container picks its service by command:
#   python -m services.kernel.runner auth|courses|progress|quizzes|realtime
# Build: docker build -t course-platform:dev .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: resolve and install the pinned dependencies into a venv ---------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# the dependencies first, so a code change does not reinstall them
COPY pyproject.toml README.md ./
RUN mkdir services && touch services/__init__.py \
 && /opt/venv/bin/pip install . \
 && /opt/venv/bin/pip uninstall -y course-platform
COPY services ./services
RUN /opt/venv/bin/pip install --no-deps .

# --- runtime: the venv only; no compilers, no tests, no pip cache, not root ------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    WAIT_FOR_DEPENDENCIES_SECONDS=60
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
# the realtime door; the other services listen on AMQP only
EXPOSE 5000
# no default service: the command names one (compose `command:`, Kubernetes `command:`);
# without one the runner prints its usage and exits
CMD ["python", "-m", "services.kernel.runner"]
