//! What the Node.js and Bun Dockerfile needs beyond the common facts, written by the
//! detector into `AnalyzeResult::details`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the image runs the service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeRuntime {
    /// `node` runs the entrypoint (Express, Koa, NestJS, `next start`, …).
    #[default]
    Node,
    /// `bun` runs the entrypoint, on the `oven/bun` image.
    Bun,
    /// A Next.js standalone build: `.next/standalone/server.js` with its own trimmed
    /// `node_modules`.
    NextStandalone,
    /// A static site (Vite, a Next.js static export): built, then served by unprivileged
    /// nginx on 8080.
    StaticSite,
}

/// What a Node.js or Bun Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct NodeDetails {
    /// How the image runs the service.
    pub runtime: NodeRuntime,
    /// Files the install reads (`package.json`, the lockfile), copied before the sources so
    /// the install layer is cached until they change.
    pub manifests: Vec<String>,
    /// Installs every dependency from the lockfile (`npm ci`), for the build.
    pub install: String,
    /// Installs the production dependencies only (`npm ci --omit=dev`), for the runtime.
    pub install_prod: String,
    /// Run before the manager: `corepack enable` for pnpm and Yarn Berry, empty otherwise.
    pub setup: String,
    /// The build (`npm run build`), empty when the package has no build script.
    pub build: String,
    /// The directory the build writes and the runtime needs (`dist`, `.next`); empty
    /// without a build.
    pub build_output: String,
    /// Next.js standalone: a `public/` directory to copy beside `server.js`.
    pub public_dir: bool,
    /// Environment variables the code reads its port from (`PORT`, `APP_PORT`): the image
    /// sets each to the port.
    pub port_env: Vec<String>,
}
