const express = require('express');
const morgan = require('morgan');
const orders = require('./routes/orders');

const app = express();
app.use(morgan('tiny'));
app.use('/orders', orders);
app.get('/healthz', (req, res) => res.send('ok'));

const port = process.env.PORT || 3000;
app.listen(port, () => console.log(`listening on ${port}`));
