import os

import uvicorn
from dotenv import load_dotenv
from fastapi import FastAPI

load_dotenv()
api = FastAPI()


@api.get("/")
def root():
    return {"ok": True}


if __name__ == "__main__":
    uvicorn.run(api, host="0.0.0.0", port=int(os.environ["PORT"]))
