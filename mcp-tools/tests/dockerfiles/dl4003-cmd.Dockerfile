FROM alpine:3.20
USER 1000
CMD ["sh"]
CMD ["sh", "-c", "echo ready"]
