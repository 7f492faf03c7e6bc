import { Hono } from "hono";

const app = new Hono();
app.get("/", (c) => c.text("hello from bun"));

Bun.serve({ port: 4000, fetch: app.fetch });
