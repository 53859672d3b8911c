"""K2: a serverless market-data lakehouse. The library every deployable imports."""
