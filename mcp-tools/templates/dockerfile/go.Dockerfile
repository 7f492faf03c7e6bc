FROM golang:{tag} AS build
WORKDIR /src
{copies}{workdir}{download}COPY . /src/
RUN CGO_ENABLED=0 go build -trimpath{mod} -o /out/app {package}

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /server
USER 65532:65532
{env}{expose}ENTRYPOINT {entrypoint}
