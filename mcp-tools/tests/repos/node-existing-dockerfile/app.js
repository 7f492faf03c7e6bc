const Koa = require('koa');
const config = require('./config');

const app = new Koa();
app.use(async (ctx) => { ctx.body = 'legacy'; });
app.listen(config.port);
