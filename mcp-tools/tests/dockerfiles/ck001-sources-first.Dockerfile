FROM node:22-alpine
WORKDIR /app
COPY . .
RUN npm ci
EXPOSE 3000
USER 1000
CMD ["node", "index.js"]
