FROM alpine:3.20
RUN mkdir /a
RUN mkdir /b
USER 1000
CMD ["sh"]
