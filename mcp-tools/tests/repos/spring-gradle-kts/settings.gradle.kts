rootProject.name = "notifications"
