FROM alpine:3.20
WORKDIR /app
COPY . .
EXPOSE {port}
# container-kit could not detect the stack: set the start command below.
CMD ["sh", "-c", "echo 'set CMD in this Dockerfile' && exit 1"]
