FROM maven:3.9-eclipse-temurin-21 AS build
WORKDIR /src
COPY pom.xml .
RUN mvn -B dependency:go-offline
COPY . .
RUN {build} && cp target/*.jar /app.jar

FROM eclipse-temurin:21-jre
WORKDIR /app
COPY --from=build /app.jar /app/app.jar
RUN useradd --create-home appuser
USER appuser
EXPOSE {port}
ENTRYPOINT ["java", "-jar", "/app/app.jar"]
