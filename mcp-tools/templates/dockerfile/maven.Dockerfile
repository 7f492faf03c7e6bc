FROM maven:3.9-eclipse-temurin-{tag} AS build
WORKDIR /src
{prepare}RUN {build}

FROM eclipse-temurin:{tag}-jre
WORKDIR /app
RUN useradd --uid 10001 --no-log-init --no-create-home --shell /usr/sbin/nologin app
COPY --from=build {artifact_copy}
USER 10001
EXPOSE {port}
{healthcheck}ENTRYPOINT {entrypoint}
