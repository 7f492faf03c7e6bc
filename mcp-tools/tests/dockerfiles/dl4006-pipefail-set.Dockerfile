FROM debian:12
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN wget -qO- https://example.com/install.sh | sh || true
USER 1000
CMD ["bash"]
