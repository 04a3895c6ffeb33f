"""pypakr's command line, installed from PyPI: see pypakr.__main__."""
