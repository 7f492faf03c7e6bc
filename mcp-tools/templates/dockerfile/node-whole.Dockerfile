{build_stages}FROM {base}
WORKDIR /app
ENV NODE_ENV=production{env}
COPY --from=build /app ./
USER 1000
{expose}{healthcheck}CMD {cmd}
