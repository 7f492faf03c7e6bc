{build_stages}FROM {install_base} AS prod-deps
WORKDIR /app
COPY {manifests} ./
RUN {setup}{install_prod}

FROM {base}
WORKDIR /app
ENV NODE_ENV=production{env}
COPY . .
COPY --from=prod-deps /app/node_modules ./node_modules
{build_copy}USER 1000
{expose}{healthcheck}CMD {cmd}
