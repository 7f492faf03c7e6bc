FROM {builder} AS build
WORKDIR /src
{prepare}RUN {build}

FROM eclipse-temurin:{tag}-jre
WORKDIR /app
RUN useradd --uid 10001 --no-log-init --no-create-home --shell /usr/sbin/nologin app
COPY --from=build {artifact_copy}
# The heap as a share of the container's memory limit (the JVM's default is a quarter).
ENV JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=75.0"
USER 10001
EXPOSE {port}
{healthcheck}ENTRYPOINT {entrypoint}
