def register(app):
    @app.route("/")
    def index():
        return "hello"
