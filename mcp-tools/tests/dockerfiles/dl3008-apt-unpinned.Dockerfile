FROM debian:12
RUN apt-get update && apt-get install -y --no-install-recommends curl git \
 && rm -rf /var/lib/apt/lists/*
USER 1000
CMD ["bash"]
