import random
import sys

from jokes_core import JOKES


def main():
    seed = sys.argv[1] if len(sys.argv) > 1 else None
    print(random.Random(seed).choice(JOKES) if seed else JOKES[0])
