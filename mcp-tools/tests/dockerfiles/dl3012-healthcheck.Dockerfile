FROM nginx:1.27
HEALTHCHECK CMD ["curl", "-f", "http://localhost/"]
HEALTHCHECK --interval=30s CMD ["curl", "-f", "http://localhost/health"]
USER 101
CMD ["nginx", "-g", "daemon off;"]
