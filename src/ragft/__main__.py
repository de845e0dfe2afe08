from ragft.cli import app

app()
