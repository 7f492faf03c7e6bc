import express from 'express';

const app = express();
const port = Number(process.env.PORT ?? 5050);

app.get('/healthz', (_req, res) => res.send('ok'));
app.listen(port, () => console.log(`up on ${port}`));
