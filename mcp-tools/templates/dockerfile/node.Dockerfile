FROM node:20-alpine
WORKDIR /app
{pre}COPY {lockfiles} ./
RUN {install}
COPY . .
{build}ENV NODE_ENV=production PORT={port}
USER node
EXPOSE {port}
CMD {cmd}
