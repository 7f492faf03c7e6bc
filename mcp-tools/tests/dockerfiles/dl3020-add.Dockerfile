FROM alpine:3.20
ADD app.sh /usr/local/bin/app.sh
ADD https://example.com/tool.tar.gz /opt/
ADD vendor.tar.gz /opt/vendor/
USER 1000
ENTRYPOINT ["/usr/local/bin/app.sh"]
