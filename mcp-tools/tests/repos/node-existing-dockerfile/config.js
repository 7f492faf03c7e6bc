module.exports = { port: process.env.APP_PORT };
