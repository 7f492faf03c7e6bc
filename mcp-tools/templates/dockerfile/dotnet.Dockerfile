FROM mcr.microsoft.com/dotnet/sdk:{sdk_tag} AS build
WORKDIR /src
{copy_restore_files}RUN dotnet restore {project}
COPY . .
RUN dotnet publish {project} -c Release -o /app --no-restore

FROM mcr.microsoft.com/dotnet/{runtime}:{tag}
WORKDIR /app
COPY --from=build /app .
# The image's own non-root user ($APP_UID), by number so Kubernetes can check runAsNonRoot.
USER 1654
{expose}ENTRYPOINT {entrypoint}
