FROM ubuntu:24.04
RUN sudo mkdir -p /data && sudo -E chown 1000 /data
USER 1000
RUN sudo touch /data/ready
CMD ["bash"]
