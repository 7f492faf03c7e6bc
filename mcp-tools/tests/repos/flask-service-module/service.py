import os

from flask import Flask

from routes import register

app = Flask(__name__)
register(app)

if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", 8080)))
