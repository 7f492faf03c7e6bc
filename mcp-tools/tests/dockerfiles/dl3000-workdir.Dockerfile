FROM node:22-alpine
WORKDIR /app
WORKDIR src
COPY . .
USER 1000
CMD ["node", "index.js"]
