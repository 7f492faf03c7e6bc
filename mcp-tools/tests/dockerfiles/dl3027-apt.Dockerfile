FROM debian:12
RUN apt update && apt install -y curl
USER 1000
CMD ["bash"]
