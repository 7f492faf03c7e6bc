{build_stages}FROM nginxinc/nginx-unprivileged:stable-alpine
COPY {from} /usr/share/nginx/html
USER 101
EXPOSE 8080
CMD ["nginx", "-g", "daemon off;"]
