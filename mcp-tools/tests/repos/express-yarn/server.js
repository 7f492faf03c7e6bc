const express = require('express');

const PORT = 8080;
const app = express();

app.get('/', (req, res) => res.send('catalog'));

app.listen(PORT, '0.0.0.0', () => {
  console.log(`catalog on ${PORT}`);
});
