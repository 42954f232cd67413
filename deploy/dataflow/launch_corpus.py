"""Entry point of the Dataflow flex template: the template's parameters are `ccrefine corpus` flags."""

import sys

from ccrefine.pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main(["corpus", *sys.argv[1:]]))
