import os
import time

import redis


def main() -> None:
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
    while True:
        job = r.blpop("jobs", timeout=5)
        if job:
            print("processing", job[1])
        time.sleep(0.1)


if __name__ == "__main__":
    main()
