FROM {install_base} AS deps
WORKDIR /app
COPY {manifests} ./
RUN {setup}{install}

FROM {install_base} AS build
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
{build_env}RUN {setup}{build}

