FROM alpine:3.20
RUN mkdir /a && mkdir /b
RUN mkdir /c
USER 1000
CMD ["sh"]
