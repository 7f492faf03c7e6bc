FROM golang:1.24
COPY . /src
RUN cd /src && go build -o /app .
USER 1000
CMD ["/app"]
