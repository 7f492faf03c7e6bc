FROM node
WORKDIR /app
COPY . .
USER 1000
CMD ["node", "index.js"]
