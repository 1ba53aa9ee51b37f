from sentscore.cli.main import run

run()
