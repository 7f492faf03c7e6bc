FROM rust:1-slim AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked || cargo build --release

FROM debian:bookworm-slim
RUN useradd --create-home appuser
COPY --from=build /src/target/release/{name} /usr/local/bin/{name}
USER appuser
EXPOSE {port}
ENTRYPOINT ["/usr/local/bin/{name}"]
