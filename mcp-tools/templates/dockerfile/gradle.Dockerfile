FROM eclipse-temurin:21-jdk AS build
WORKDIR /src
COPY . .
RUN {build} && cp build/libs/*[!n].jar /app.jar

FROM eclipse-temurin:21-jre
WORKDIR /app
COPY --from=build /app.jar /app/app.jar
RUN useradd --create-home appuser
USER appuser
EXPOSE {port}
ENTRYPOINT ["java", "-jar", "/app/app.jar"]
