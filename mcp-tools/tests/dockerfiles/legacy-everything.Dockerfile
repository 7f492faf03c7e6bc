FROM node
MAINTAINER ops@example.com
RUN sudo apt-get update && sudo apt-get install -y curl git
WORKDIR app
ADD . .
RUN npm install
RUN curl -s https://example.com/x.sh | bash
EXPOSE 3000
USER root
CMD npm start
