FROM node:22
RUN npm install -g typescript@5.6.2 nodemon @nestjs/cli
WORKDIR /app
COPY package*.json ./
RUN npm install
COPY . .
USER 1000
CMD ["node", "dist/main.js"]
