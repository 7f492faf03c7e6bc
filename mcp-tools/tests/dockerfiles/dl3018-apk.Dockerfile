FROM alpine:3.20
RUN apk add --no-cache curl jq=1.7.1-r0
USER 1000
CMD ["sh"]
