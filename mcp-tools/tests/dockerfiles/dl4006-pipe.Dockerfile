FROM debian:12
RUN wget -qO- https://example.com/install.sh | sh
USER 1000
CMD ["bash"]
