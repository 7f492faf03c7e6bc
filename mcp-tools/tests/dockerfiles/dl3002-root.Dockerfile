FROM ubuntu:24.04
RUN useradd -u 1001 app
USER app
RUN echo build
USER root
CMD ["bash"]
