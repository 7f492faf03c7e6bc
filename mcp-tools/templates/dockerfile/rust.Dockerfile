FROM rust:{tag}-slim AS build
WORKDIR /src
# The manifests and the lockfile first, with empty target files so cargo can read them: the
# dependency download is a layer of its own, rebuilt only when they change.
{copies}{workdir}RUN {mkdir}touch {targets} \
    && cargo fetch{locked}
COPY . /src/
RUN {build} \
    && mkdir -p /out \
    && cp target/{triple}release/{bin} /out/{bin}

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/{bin} /usr/local/bin/{bin}
USER 65532:65532
{env}{expose}ENTRYPOINT ["/usr/local/bin/{bin}"]
