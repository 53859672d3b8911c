"""The FastAPI app behind API Gateway (issue 6): routers, models, auth, errors."""
