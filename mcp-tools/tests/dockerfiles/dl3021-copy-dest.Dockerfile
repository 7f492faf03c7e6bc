FROM alpine:3.20
COPY a.txt b.txt /opt/files
USER 1000
CMD ["sh"]
