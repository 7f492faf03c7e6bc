FROM golang:1.24 AS build
WORKDIR /src
COPY . .
RUN go build -o /out/app .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER 65532
EXPOSE 8080
ENTRYPOINT /app --port 8080
