from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def forecast(request):
    return JSONResponse({"forecast": "sunny"})


app = Starlette(routes=[Route("/forecast", forecast)])
