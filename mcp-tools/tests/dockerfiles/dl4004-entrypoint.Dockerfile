FROM alpine:3.20
ENTRYPOINT ["/bin/true"]
USER 1000
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "echo hi"]
