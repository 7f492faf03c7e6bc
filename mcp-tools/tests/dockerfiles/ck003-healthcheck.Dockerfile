FROM node:22-alpine
WORKDIR /app
COPY package*.json ./
RUN npm ci
COPY . .
USER 1000
EXPOSE 3000
CMD ["node", "index.js"]
